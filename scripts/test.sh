#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's one:
# installs what the integration tests run against (slapd, radclient,
# freeradius and freeradius-ldap, chromium), checks
# PostgreSQL answers, then vets and tests every package. Fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

need=()
command -v slapd >/dev/null 2>&1 || need+=(slapd)
command -v ldapsearch >/dev/null 2>&1 || need+=(ldap-utils)
command -v radclient >/dev/null 2>&1 || need+=(freeradius-utils)
# kakunin bench's peer: its generated raddb is checked and run by the tests.
command -v freeradius >/dev/null 2>&1 || need+=(freeradius)
[ -e /usr/lib/freeradius/rlm_ldap.so ] || need+=(freeradius-ldap)
# The portal's end-to-end test drives Debian's Chromium headless.
[ -x /usr/bin/chromium ] || need+=(chromium)
# A Japanese font, so the portal's screenshots show text, not boxes.
[ -e /usr/share/fonts/opentype/ipafont-gothic ] || need+=(fonts-ipafont-gothic)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The tests start their own FreeRADIUS; the packaged service is not wanted.
  if [[ " ${need[*]} " == *" freeradius "* ]] && command -v systemctl >/dev/null 2>&1 && systemctl is-enabled -q freeradius 2>/dev/null; then
    $sudo systemctl disable --now freeradius >/dev/null 2>&1 || true
  fi
fi

# The store's conformance suite runs against PostgreSQL too.
pg="${KAKUNIN_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "== PostgreSQL is not answering on 127.0.0.1:5432; trying to start it"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
export KAKUNIN_TEST_POSTGRES="$pg"

echo "== go version: $(go version)"
echo "== go mod download"
go mod download
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go test (race detector on)"
CI="${CI:-true}" go test -race -count=1 -timeout 20m ./...
echo "== fuzz the packet parser briefly"
# A count, not a duration: with -fuzztime=20s Go 1.26's fuzz coordinator
# can report "context deadline exceeded" at the deadline under CPU load,
# with no failing input (golang/go#75804, fixed in Go 1.27).
go test -run='^$' -fuzz=FuzzServePacket -fuzztime=100000x ./radius
echo "== all tests passed"
