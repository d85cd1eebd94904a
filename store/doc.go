// Package store keeps everything kakunin must remember across restarts and
// share between nodes: users' enrolled second factors and default method,
// pending challenges, the last TOTP step used per method, failure counters,
// the SMS codes and calls sent (for their limits) and the audit trail.
//
// Store is one interface with two implementations, chosen by Config.Driver
// and returned by Open: an embedded SQLite file (modernc.org/sqlite, no
// cgo) for a single node, and PostgreSQL (pgx) for several nodes behind
// one set of RADIUS clients. Both pass the conformance suite in
// store/storetest; a new implementation must too.
//
// What the implementations guarantee, on one node and across nodes:
//
//   - A TOTP step is accepted once per method (UseTOTPStep is one
//     conditional UPDATE), and a challenge is taken once (TakeChallenge is
//     one DELETE … RETURNING). Both are single round trips on prepared
//     statements: they are on the path of every login.
//   - ReserveSend checks the limits on SMS codes and calls and records the
//     send as one step: on SQLite one conditional INSERT, which holds the
//     write lock from its count to its insert; on PostgreSQL a transaction
//     that first takes an advisory lock on the user, then inserts on
//     condition.
//   - TOTP seeds, push registrations, phone numbers and extensions, and
//     the SMS code a pending challenge waits for, are encrypted at rest
//     with AES-256-GCM under a configured key, each ciphertext bound to
//     its row and column (see crypto.go). Rows name their key, so keys
//     can be rotated (Rekeyer).
//   - The schema is created and upgraded at Open by the embedded,
//     versioned migrations under migrations/, one transaction per Open;
//     nodes starting together serialise on an advisory lock (PostgreSQL)
//     or on the write lock (SQLite). A database upgraded by a newer
//     kakunin is refused rather than misread.
//
// The package knows SQL and encryption, and nothing of RADIUS, LDAP or the
// authentication flow: it stores what it is given. Times are stored with
// microsecond precision and returned in UTC. Errors name users and method
// IDs, never secrets; outcomes callers act on are the sentinel errors
// ErrNotFound, ErrConflict and ErrDecrypt, to be tested with errors.Is.
//
// Operators: the SQLite file (and its -wal and -shm files) must be on a
// local file system, as WAL needs shared memory; back it up with
// `sqlite3 kakunin.db ".backup copy.db"`, not by copying the file while
// the server runs. With PostgreSQL, a DSN listing several hosts with
// target_session_attrs=read-write follows a primary after failover.
package store
