package admin_test

import (
	"os"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
)

func TestMain(m *testing.M) {
	// Dial failures to nodes the tests stop on purpose are expected.
	admin.RouteDriverLog(nil)
	os.Exit(m.Run())
}
