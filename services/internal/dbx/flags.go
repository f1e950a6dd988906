package dbx

import (
	"flag"
	"os"
	"time"
)

// RegisterFlags binds the pool options to --database-url (default $DATABASE_URL),
// --sqlite-path, --db-max-open, --db-max-idle and --db-conn-max-lifetime.
func RegisterFlags(fs *flag.FlagSet, o *Options, defaultMaxOpen int) {
	fs.StringVar(&o.URL, "database-url", os.Getenv("DATABASE_URL"),
		"PostgreSQL URL (postgres://...); empty means embedded SQLite (default $DATABASE_URL)")
	fs.StringVar(&o.SQLitePath, "sqlite-path", "", "SQLite database file; empty means a temporary file removed at exit")
	fs.IntVar(&o.MaxOpenConns, "db-max-open", defaultMaxOpen, "maximum open connections of the pool")
	fs.IntVar(&o.MaxIdleConns, "db-max-idle", 0, "idle connections kept; 0 means --db-max-open")
	fs.DurationVar(&o.ConnMaxLifetime, "db-conn-max-lifetime", 0*time.Second, "close connections older than this; 0 means never")
}
