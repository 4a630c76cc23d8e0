package sandboxtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// SetUser creates (or resets) the ACL user name on every node with
// password and rule (ACL SETUSER syntax, e.g. acl.Rule). The password
// travels as a command argument to the test's own nodes only.
func (c *Cluster) SetUser(t testing.TB, name, password, rule string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := []any{"ACL", "SETUSER", name, "reset", "on", ">" + password}
	for _, r := range strings.Fields(rule) {
		args = append(args, r)
	}
	for i, n := range c.Nodes {
		if err := c.Client(i).Do(ctx, args...).Err(); err != nil {
			t.Fatalf("sandboxtest: ACL SETUSER %s on %s: %v", name, n.Addr, err)
		}
	}
}
