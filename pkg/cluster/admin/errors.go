package admin

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// NodeError is a command that failed on one node. It names the node and the
// command and keeps the cause for the predicates below.
type NodeError struct {
	Addr string // host:port of the node
	Op   string // the command, e.g. "CLUSTER SETSLOT 42 IMPORTING"
	Err  error
}

func (e *NodeError) Error() string { return e.Op + " on " + e.Addr + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *NodeError) Unwrap() error { return e.Err }

func wrap(addr, op string, err error) error {
	if err == nil {
		return nil
	}
	return &NodeError{Addr: addr, Op: op, Err: err}
}

// replyText returns the text of a Redis error reply inside err.
func replyText(err error) (string, bool) {
	var re redis.Error
	if !errors.As(err, &re) {
		return "", false
	}
	return re.Error(), true
}

func replyHasPrefix(err error, prefix string) bool {
	t, ok := replyText(err)
	return ok && strings.HasPrefix(t, prefix)
}

// IsAuthError reports whether err is an authentication failure (NOAUTH,
// WRONGPASS, or a rejected AUTH).
func IsAuthError(err error) bool {
	if err == nil {
		return false
	}
	if redis.IsAuthError(err) {
		return true
	}
	t, ok := replyText(err)
	return ok && (strings.HasPrefix(t, "NOAUTH") || strings.HasPrefix(t, "WRONGPASS") ||
		strings.Contains(t, "invalid password") || strings.Contains(t, "invalid username-password"))
}

// IsUnreachable reports whether err means the node could not be reached:
// connection refused or reset, a dial or read timeout, a closed connection.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := replyText(err); ok {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, redis.ErrClosed)
}

// IsBusyKey reports a BUSYKEY reply: MIGRATE (without REPLACE) or RESTORE
// found the key already on the target. MIGRATE relays it as "ERR Target
// instance replied with error: BUSYKEY …".
func IsBusyKey(err error) bool {
	t, ok := replyText(err)
	return ok && (strings.HasPrefix(t, "BUSYKEY") || strings.Contains(t, "error: BUSYKEY"))
}

// IsOnlyMasters reports "Please use SETSLOT only with masters" (Valkey:
// "primaries"): the node gave away its last slot and became a replica, which
// is expected when closing a migration on the source.
func IsOnlyMasters(err error) bool {
	t, ok := replyText(err)
	return ok && (strings.Contains(t, "SETSLOT only with masters") || strings.Contains(t, "SETSLOT only with primaries"))
}

// IsStillHoldsKeys reports that a source refused SETSLOT NODE because it
// still holds keys in the slot: a write raced the last GETKEYSINSLOT.
func IsStillHoldsKeys(err error) bool {
	t, ok := replyText(err)
	return ok && strings.Contains(t, "hold keys")
}

// IsUnknownNode reports "Unknown node <id>" (CLUSTER REPLICATE, SETSLOT,
// FORGET): the node has not learnt of that id yet, or has forgotten it.
func IsUnknownNode(err error) bool {
	t, ok := replyText(err)
	return ok && (strings.Contains(t, "Unknown node") || strings.Contains(t, "I don't know about node"))
}

// IsNotEmpty reports that a node refused ADDSLOTS, MEET-less REPLICATE or
// SET-CONFIG-EPOCH because it already holds keys or knows other nodes.
func IsNotEmpty(err error) bool {
	t, ok := replyText(err)
	return ok && (strings.Contains(t, "not empty") || strings.Contains(t, "knows other nodes") ||
		strings.Contains(t, "already busy") || strings.Contains(t, "epoch is not zero"))
}

// IsClusterDisabled reports "This instance has cluster support disabled".
func IsClusterDisabled(err error) bool {
	t, ok := replyText(err)
	return ok && strings.Contains(t, "cluster support disabled")
}

// IsMoved reports a MOVED redirection and returns its slot and address.
func IsMoved(err error) (slot int, addr string, ok bool) { return redirect(err, "MOVED ") }

// IsAsk reports an ASK redirection and returns its slot and address.
func IsAsk(err error) (slot int, addr string, ok bool) { return redirect(err, "ASK ") }

func redirect(err error, prefix string) (int, string, bool) {
	t, ok := replyText(err)
	if !ok || !strings.HasPrefix(t, prefix) {
		return 0, "", false
	}
	f := strings.Fields(strings.TrimPrefix(t, prefix))
	if len(f) != 2 {
		return 0, "", false
	}
	slot, err2 := strconv.Atoi(f[0])
	if err2 != nil {
		return 0, "", false
	}
	return slot, f[1], true
}
