package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
)

// begin starts a transaction on c. A SQLite connection is a file handle
// that never breaks; a PostgreSQL one is a network connection that does
// (the server restarted, a failover, an idle timeout of a proxy). There, a
// BEGIN that fails on a connection now closed is run once more on a new
// connection: nothing ran yet, so running it again is safe. A write or
// read that fails later, mid-transaction, is answered with its error (the
// caller never sees an acknowledged write lost); the next BEGIN on that
// connection replaces it.
func (db *DB) begin(ctx context.Context, c *conn, query string, reader bool) error {
	if db.d.postgres && closed(c) {
		if err := db.reconnect(ctx, c, reader); err != nil {
			return err
		}
	}
	err := c.run(ctx, query)
	if err != nil && db.d.postgres && closed(c) {
		if rerr := db.reconnect(ctx, c, reader); rerr != nil {
			return fmt.Errorf("%w (reconnect: %v)", err, rerr)
		}
		err = c.run(ctx, query)
	}
	return err
}

// closed reports whether c's PostgreSQL connection has been closed (pgx
// closes it on a fatal error: the server went away or ended the session).
func closed(c *conn) bool {
	var isClosed bool
	err := c.c.Raw(func(dc any) error {
		if sc, ok := dc.(*stdlib.Conn); ok {
			isClosed = sc.Conn().IsClosed()
		}
		return nil
	})
	return isClosed || err != nil
}

// reconnect replaces c's connection, and its prepared statements, with a
// new one from the pool.
// The broken one goes back first: the pool holds exactly the store's
// connections. If no new one can be had, c stays closed and the next
// begin tries again.
func (db *DB) reconnect(ctx context.Context, c *conn, reader bool) error {
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = map[string]*sql.Stmt{}
	c.c.Close() //nolint:errcheck // it is broken
	nc, err := db.pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	if err := db.d.prepareConn(ctx, nc, reader); err != nil {
		nc.Close()
		return fmt.Errorf("reconnect: %w", err)
	}
	c.c = nc
	return nil
}
