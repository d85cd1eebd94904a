package demodir

import (
	"slices"
	"strings"
	"testing"

	"kakunin/configs"
)

func TestLoad(t *testing.T) {
	const good = `
users:
  - id: "0123456789"
    name: Test User
    password: demo-test
    mail: test@example.org
    phone: "+819012345678"
    groups: [vpn-staff, vpn-admins]
  - id: "2024000002"
    name: 佐藤 花子
    password: demo-sato
`
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings of the error; none for success
	}{
		{name: "valid", yaml: good},
		{name: "unquoted ID keeps its digits", yaml: "users:\n  - {id: 2024000001, name: A, password: p}\n"},
		{name: "empty file", yaml: "", wantErr: []string{"empty file"}},
		{name: "no users", yaml: "users: []\n", wantErr: []string{"users: at least one user is required"}},
		{name: "unknown top-level key", yaml: "people: []\n", wantErr: []string{"field people not found"}},
		{name: "unknown user key", yaml: "users:\n  - {id: \"2024000001\", name: A, password: p, phone_number: \"+81\"}\n", wantErr: []string{"field phone_number not found"}},
		{name: "duplicate key", yaml: "users:\n  - {id: \"2024000001\", id: \"2024000002\", name: A, password: p}\n", wantErr: []string{"already defined"}},
		{name: "second document", yaml: good + "---\nusers: []\n", wantErr: []string{"more than one YAML document"}},
		{name: "not YAML", yaml: "users: [", wantErr: []string{"demo users:"}},
		{name: "short ID", yaml: "users:\n  - {id: \"12345\", name: A, password: p}\n", wantErr: []string{`users[0].id: must be exactly 10 digits, got "12345"`}},
		{name: "long ID", yaml: "users:\n  - {id: \"20240000011\", name: A, password: p}\n", wantErr: []string{"users[0].id: must be exactly 10 digits"}},
		{name: "letters in ID", yaml: "users:\n  - {id: \"20240000a1\", name: A, password: p}\n", wantErr: []string{"users[0].id: must be exactly 10 digits"}},
		{name: "missing ID", yaml: "users:\n  - {name: A, password: p}\n", wantErr: []string{`users[0].id: must be exactly 10 digits, got ""`}},
		{name: "duplicate ID", yaml: "users:\n  - {id: \"2024000001\", name: A, password: p}\n  - {id: \"2024000002\", name: B, password: p}\n  - {id: \"2024000001\", name: C, password: p}\n", wantErr: []string{`users[2].id: duplicate of users[0].id "2024000001"`}},
		{name: "missing name", yaml: "users:\n  - {id: \"2024000001\", name: \"  \", password: p}\n", wantErr: []string{"users[0].name: required"}},
		{name: "missing password", yaml: "users:\n  - {id: \"2024000001\", name: A}\n", wantErr: []string{"users[0].password: required"}},
		{name: "bad mail", yaml: "users:\n  - {id: \"2024000001\", name: A, password: p, mail: \"A <a@example.org>\"}\n", wantErr: []string{"users[0].mail:"}},
		{name: "phone not E.164", yaml: "users:\n  - {id: \"2024000001\", name: A, password: p, phone: \"090-1234-5678\"}\n", wantErr: []string{`users[0].phone: "090-1234-5678" is not an E.164 number`}},
		{name: "phone with spaces", yaml: "users:\n  - {id: \"2024000001\", name: A, password: p, phone: \"+81 90 1234 5678\"}\n", wantErr: []string{"users[0].phone:"}},
		{name: "group with a comma", yaml: "users:\n  - {id: \"2024000001\", name: A, password: p, groups: [\"vpn,staff\"]}\n", wantErr: []string{"users[0].groups[0]:"}},
		{name: "upper-case group", yaml: "users:\n  - {id: \"2024000001\", name: A, password: p, groups: [VPN-Staff]}\n", wantErr: []string{"users[0].groups[0]:"}},
		{name: "group twice", yaml: "users:\n  - {id: \"2024000001\", name: A, password: p, groups: [vpn-staff, vpn-staff]}\n", wantErr: []string{`users[0].groups[1]: "vpn-staff" is listed twice`}},
		{
			name:    "every problem at once",
			yaml:    "users:\n  - {id: \"1\", password: p}\n  - {id: \"2024000001\", name: B, phone: \"12\"}\n",
			wantErr: []string{"users[0].id:", "users[0].name:", "users[1].password:", "users[1].phone:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := Load([]byte(tt.yaml))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(users) == 0 {
					t.Fatal("no users")
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want error with %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestLoadKeepsIDDigits(t *testing.T) {
	users, err := Load([]byte("users:\n  - {id: \"0000000001\", name: A, password: p}\n  - {id: 2024000001, name: B, password: p}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if users[0].ID != "0000000001" || users[1].ID != "2024000001" {
		t.Errorf("IDs %q, %q", users[0].ID, users[1].ID)
	}
}

func TestLoadErrorsNeverShowPasswords(t *testing.T) {
	_, err := Load([]byte("users:\n  - {id: \"1\", name: A, password: \"demo-secret\\u0007\"}\n"))
	if err == nil || strings.Contains(err.Error(), "demo-secret") {
		t.Errorf("error %v", err)
	}
}

func TestShippedDemoUsers(t *testing.T) {
	users, err := Load(configs.DemoUsers)
	if err != nil {
		t.Fatalf("configs/demo-users.yaml: %v", err)
	}
	var staff, admins, outsiders, withoutPhone int
	for _, u := range users {
		switch {
		case slices.Contains(u.Groups, "vpn-staff"):
			staff++
		default:
			outsiders++
		}
		if slices.Contains(u.Groups, "vpn-admins") {
			admins++
		}
		if u.Phone == "" {
			withoutPhone++
		}
		if !strings.HasPrefix(u.Password, "demo-") {
			t.Errorf("user %s: demo passwords start with demo-", u.ID)
		}
		if u.Phone != "" && !strings.HasPrefix(u.Phone, "+81") {
			t.Errorf("user %s: phone %q, want a Japanese number", u.ID, u.Phone)
		}
	}
	if staff == 0 || admins == 0 || outsiders == 0 {
		t.Errorf("want users in vpn-staff (%d), in vpn-admins (%d) and outside vpn-staff (%d)", staff, admins, outsiders)
	}

	// The shipped users are served as they are.
	d, err := Start("", users, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	c := dial(t, d)
	for _, u := range users {
		if err := c.Bind(d.UserDN(u.ID), u.Password); err != nil {
			t.Errorf("bind as %s: %v", u.ID, err)
		}
	}
}

func TestUserLogValueHidesPassword(t *testing.T) {
	u := testUsers()[0]
	if s := u.LogValue().String(); strings.Contains(s, u.Password) {
		t.Errorf("LogValue %q shows the password", s)
	}
}
