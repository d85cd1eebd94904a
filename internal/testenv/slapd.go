package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The demo directory StartSlapd builds. Generated users live under
// ou=people and are numbered from 1: user i has the uid UserID(i) and the
// password UserPassword(i).
const (
	slapdBaseDN          = "dc=example,dc=ac,dc=jp"
	slapdAdminDN         = "cn=admin," + slapdBaseDN
	slapdPeopleDN        = "ou=people," + slapdBaseDN
	slapdGroupsDN        = "ou=groups," + slapdBaseDN
	slapdServiceDN       = "cn=kakunin,ou=services," + slapdBaseDN
	slapdVPNStaffDN      = "cn=vpn-staff," + slapdGroupsDN
	slapdVPNAdminsDN     = "cn=vpn-admins," + slapdGroupsDN
	slapdAdminPassword   = "admin-secret"
	slapdServicePassword = "kakunin-service-secret"
)

// SlapdOptions says what the test directory holds.
type SlapdOptions struct {
	// Users is the number of generated users (uid 0000000001, 0000000002, …).
	Users int
	// ExtraLDIF is applied with ldapmodify -a as the admin once the server
	// runs, so it may add entries (parents first) and use changetype:
	// modify; the memberof overlay maintains memberOf for what it changes.
	ExtraLDIF string
	// TLS adds an ldaps:// listener and enables StartTLS on the ldap://
	// one, with a server certificate from a CA generated in Dir.
	TLS bool
	// ExtraACL is slapd.conf access directives ("access to … by …")
	// placed before the default ones, so they take precedence for what
	// they match.
	ExtraACL string
}

// Slapd is a running OpenLDAP server in a temporary directory. The
// service account (ServiceDN) may search ou=people and read every entry
// but passwords; a user may read its own entry under ou=people; entries
// elsewhere (e.g. an ou=contractors added by ExtraLDIF) are readable only
// by the service account, not by themselves.
type Slapd struct {
	URL      string // ldap://127.0.0.1:PORT (StartTLS available when TLS)
	LDAPSURL string // ldaps://127.0.0.1:PORT, empty without TLS
	CAFile   string // PEM file of the CA that signed the server certificate

	BaseDN        string
	AdminDN       string // the rootdn: bypasses access control
	AdminPassword string

	ServiceDN       string // kakunin's service account
	ServicePassword string
	PeopleDN        string
	GroupsDN        string
	VPNStaffDN      string // groupOfNames of every user with InVPNStaff(i)
	VPNAdminsDN     string // groupOfNames of every user with InVPNAdmins(i)

	Dir string

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been reaped
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// UserID is the uid of generated user i: ten digits, like a staff number.
func UserID(i int) string { return fmt.Sprintf("%010d", i) }

// UserPassword is the password of generated user i.
func UserPassword(i int) string { return fmt.Sprintf("demo-%d-pass", i) }

// UserMail is the mail attribute of generated user i.
func UserMail(i int) string { return UserID(i) + "@example.ac.jp" }

// UserPhone is the telephoneNumber attribute of generated user i.
func UserPhone(i int) string {
	return fmt.Sprintf("+81 3 %04d %04d", (i/10000)%10000, i%10000)
}

// UserDN is the DN of generated user i.
func UserDN(i int) string { return "uid=" + UserID(i) + "," + slapdPeopleDN }

// InVPNStaff reports whether generated user i is a member of vpn-staff:
// nine users in ten are.
func InVPNStaff(i int) bool { return i%10 != 0 }

// InVPNAdmins reports whether generated user i is a member of vpn-admins:
// one user in a hundred (1, 101, 201, …) is.
func InVPNAdmins(i int) bool { return i%100 == 1 }

// SlapdT starts a slapd for a test or benchmark in a temporary directory
// and stops it when the test ends. A missing slapd fails the test.
func SlapdT(t testing.TB, opt SlapdOptions) *Slapd {
	t.Helper()
	s, err := StartSlapd(t.TempDir(), opt)
	if err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop slapd: %v", err)
		}
	})
	return s
}

// StartSlapd builds a directory in dir (configuration, certificates, an
// mdb database loaded with slapadd) and starts slapd on free ports of
// 127.0.0.1. It returns once the server answers a bind. The caller must
// call Stop.
func StartSlapd(dir string, opt SlapdOptions) (*Slapd, error) {
	if opt.Users < 0 {
		return nil, errors.New("slapd: negative user count")
	}
	slapd, err := findProgram("slapd", "slapd")
	if err != nil {
		return nil, err
	}
	slapadd, err := findProgram("slapadd", "slapd")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("slapd: %w", err)
	}
	s := &Slapd{
		BaseDN:          slapdBaseDN,
		AdminDN:         slapdAdminDN,
		AdminPassword:   slapdAdminPassword,
		ServiceDN:       slapdServiceDN,
		ServicePassword: slapdServicePassword,
		PeopleDN:        slapdPeopleDN,
		GroupsDN:        slapdGroupsDN,
		VPNStaffDN:      slapdVPNStaffDN,
		VPNAdminsDN:     slapdVPNAdminsDN,
		Dir:             dir,
	}
	var tlsFiles *slapdTLSFiles
	if opt.TLS {
		tlsFiles, err = writeTestCA(dir)
		if err != nil {
			return nil, fmt.Errorf("slapd: certificates: %w", err)
		}
		s.CAFile = tlsFiles.CA
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := writeSlapdConf(conf, dir, tlsFiles, opt.ExtraACL); err != nil {
		return nil, fmt.Errorf("slapd: write config: %w", err)
	}
	if err := loadSlapd(slapadd, conf, dir, opt.Users); err != nil {
		return nil, err
	}

	// A free port found by listening and closing can be taken by someone
	// else before slapd binds it; try again with new ports if so.
	for attempt := 1; ; attempt++ {
		err = s.start(slapd, conf, opt.TLS)
		if err == nil {
			break
		}
		if attempt == 3 || !errors.Is(err, errSlapdExited) {
			return nil, err
		}
	}
	if opt.ExtraLDIF != "" {
		if err := s.apply(opt.ExtraLDIF); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

var errSlapdExited = errors.New("slapd exited")

func (s *Slapd) start(slapd, conf string, withTLS bool) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	urls := s.URL + "/"
	if withTLS {
		tport, err := freePort()
		if err != nil {
			return err
		}
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tport)
		urls += " " + s.LDAPSURL + "/"
	}
	logPath := filepath.Join(s.Dir, "slapd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	defer logFile.Close()
	// -d 0 keeps slapd in the foreground (so Stop can reap it) without
	// debug output; errors still go to stderr, which is the log file.
	cmd := exec.Command(slapd, "-d", "0", "-f", conf, "-h", urls)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("%w before answering (%v): %s", errSlapdExited, s.waitErr, tail(logPath))
		default:
		}
		if err := s.ping(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("slapd: not answering at %s after 30s: %v: %s", s.URL, err, tail(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping binds as the admin.
func (s *Slapd) ping() error {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	return c.Bind(s.AdminDN, s.AdminPassword)
}

// apply runs LDIF through ldapmodify -a as the admin.
func (s *Slapd) apply(ldif string) error {
	prog, err := findProgram("ldapmodify", "ldap-utils")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, "-a", "-x", "-H", s.URL, "-D", s.AdminDN, "-w", s.AdminPassword)
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("slapd: apply ExtraLDIF: %v: %s", err, out)
	}
	return nil
}

// Stop terminates slapd and waits for it to exit.
// Pid is the slapd process id (the benchmark reads its CPU time).
func (s *Slapd) Pid() int { return s.cmd.Process.Pid }

func (s *Slapd) Stop() error {
	if s.cmd == nil {
		return nil
	}
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			s.stopErr = fmt.Errorf("slapd had already exited: %v: %s", s.waitErr, tail(filepath.Join(s.Dir, "slapd.log")))
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = errors.New("slapd did not stop within 10s of SIGTERM; killed")
		}
	})
	return s.stopErr
}

func findProgram(name, debianPackage string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin/", "/usr/bin/", "/sbin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: install the Debian package %s (the README's test command does)", name, debianPackage)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("slapd: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of a log file for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return "(empty log)"
}

var slapdConf = template.Must(template.New("slapd.conf").Parse(`# Generated by kakunin's internal/testenv.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema

pidfile {{.Dir}}/slapd.pid
argsfile {{.Dir}}/slapd.args
loglevel 0
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
tool-threads 2
{{- with .TLS}}
TLSCACertificateFile {{.CA}}
TLSCertificateFile {{.Cert}}
TLSCertificateKeyFile {{.Key}}
{{- end}}

database mdb
maxsize 8589934592
dbnosync
suffix "{{.Base}}"
rootdn "{{.Admin}}"
rootpw {{.AdminPassword}}
directory {{.Dir}}/data
index objectClass eq
index uid eq
index member eq
{{- with .ExtraACL}}

{{.}}
{{- end}}

access to attrs=userPassword
	by self =w
	by anonymous auth
	by * none
access to dn.subtree="{{.People}}"
	by self read
	by dn.exact="{{.Service}}" read
	by * none
access to *
	by dn.exact="{{.Service}}" read
	by * none

overlay memberof
memberof-refint TRUE
`))

func writeSlapdConf(path, dir string, tlsFiles *slapdTLSFiles, extraACL string) error {
	var b bytes.Buffer
	err := slapdConf.Execute(&b, map[string]any{
		"Dir":           dir,
		"TLS":           tlsFiles,
		"Base":          slapdBaseDN,
		"Admin":         slapdAdminDN,
		"AdminPassword": slapdAdminPassword,
		"People":        slapdPeopleDN,
		"Service":       slapdServiceDN,
		"ExtraACL":      strings.TrimSpace(extraACL),
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// loadSlapd streams the generated LDIF into slapadd -q.
func loadSlapd(slapadd, conf, dir string, users int) error {
	cmd := exec.Command(slapadd, "-q", "-f", conf)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("slapadd: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("slapadd: %w", err)
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	writeLDIF(w, users)
	genErr := w.Flush() // bufio.Writer errors are sticky: Flush reports any
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("slapadd: %v: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	if genErr != nil {
		return fmt.Errorf("slapadd: write LDIF: %w", genErr)
	}
	return nil
}

// writeLDIF writes the demo directory. memberOf is written into each user
// because slapadd does not run overlays.
func writeLDIF(w *bufio.Writer, users int) {
	fmt.Fprintf(w, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example University\n\n", slapdBaseDN)
	for _, ou := range []string{"people", "groups", "services"} {
		fmt.Fprintf(w, "dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, slapdBaseDN, ou)
	}
	fmt.Fprintf(w, "dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: kakunin\nuserPassword: %s\n\n",
		slapdServiceDN, ssha(slapdServicePassword, 0))
	for i := 1; i <= users; i++ {
		id := UserID(i)
		w.WriteString("dn: uid=")
		w.WriteString(id)
		w.WriteString(",")
		w.WriteString(slapdPeopleDN)
		w.WriteString("\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\nuid: ")
		w.WriteString(id)
		w.WriteString("\ncn: Demo User ")
		w.WriteString(id)
		w.WriteString("\nsn: User\nmail: ")
		w.WriteString(UserMail(i))
		w.WriteString("\ntelephoneNumber: ")
		w.WriteString(UserPhone(i))
		w.WriteString("\nuserPassword: ")
		w.WriteString(ssha(UserPassword(i), uint32(i)))
		if InVPNStaff(i) {
			w.WriteString("\nmemberOf: " + slapdVPNStaffDN)
		}
		if InVPNAdmins(i) {
			w.WriteString("\nmemberOf: " + slapdVPNAdminsDN)
		}
		w.WriteString("\n\n")
	}
	for _, g := range []struct {
		dn, cn string
		in     func(int) bool
	}{{slapdVPNStaffDN, "vpn-staff", InVPNStaff}, {slapdVPNAdminsDN, "vpn-admins", InVPNAdmins}} {
		fmt.Fprintf(w, "dn: %s\nobjectClass: groupOfNames\ncn: %s\n", g.dn, g.cn)
		n := 0
		for i := 1; i <= users; i++ {
			if g.in(i) {
				w.WriteString("member: ")
				w.WriteString(UserDN(i))
				w.WriteByte('\n')
				n++
			}
		}
		if n == 0 {
			// groupOfNames needs a member; the empty DN names no one.
			w.WriteString("member:\n")
		}
		w.WriteByte('\n')
	}
}

// ssha hashes a password the way slappasswd -h {SSHA} does, with a
// deterministic salt: cheap for slapd to check, and not stored in clear.
func ssha(password string, salt uint32) string {
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], salt)
	h := sha1.New()
	io.WriteString(h, password)
	h.Write(s[:])
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), s[:]...))
}

type slapdTLSFiles struct{ CA, Cert, Key string }

// writeTestCA creates a CA and a server certificate for 127.0.0.1 and
// localhost, valid for a day.
func writeTestCA(dir string) (*slapdTLSFiles, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kakunin test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	f := &slapdTLSFiles{
		CA:   filepath.Join(dir, "ca.pem"),
		Cert: filepath.Join(dir, "server.pem"),
		Key:  filepath.Join(dir, "server.key"),
	}
	for path, block := range map[string]*pem.Block{
		f.CA:   {Type: "CERTIFICATE", Bytes: caDER},
		f.Cert: {Type: "CERTIFICATE", Bytes: der},
		f.Key:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}
