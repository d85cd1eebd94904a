// Package deps pins the modules the packages under construction will use,
// so go.mod stays stable while they are written. Remove once all are used.
package deps

import (
	_ "github.com/go-ldap/ldap/v3"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/jimlambrt/gldap"
	_ "github.com/pquerna/otp/totp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "gopkg.in/yaml.v3"
	_ "layeh.com/radius"
	_ "modernc.org/sqlite"
)
