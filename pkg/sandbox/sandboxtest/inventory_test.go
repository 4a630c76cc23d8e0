package sandboxtest

import (
	"testing"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// TestCrossInventory: the rendered inventories parse, pass every rule
// and place each replica as Form does.
func TestCrossInventory(t *testing.T) {
	ports := []int{7000, 7001, 7002, 7003, 7004, 7005, 7006, 7007, 7008, 7009}
	text := CrossInventory(ports[:6], 3, InventoryOptions{Name: "x", Weights: map[string]string{"server2": "2"},
		Extra: CrossPair("server4", "server5", [4]int(ports[6:10])) + GenerousGates})
	inv, err := inventory.Parse("inventory.yml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if bad := inventory.Invalid(inventory.Check(inv, nil)); len(bad) > 0 {
		t.Fatalf("rules: %v\n%s", bad, text)
	}
	want := map[string]string{ // replica -> its master, as Form builds them
		"server1:7003": "server2:7001", "server2:7004": "server3:7002", "server3:7005": "server1:7000",
		"server4:7007": "server5:7008", "server5:7009": "server4:7006",
	}
	got := map[string]string{}
	for _, n := range inv.Nodes() {
		if n.Role == inventory.RoleReplica {
			got[n.Name()] = n.ReplicaOf
		}
	}
	for r, m := range want {
		if got[r] != m {
			t.Errorf("%s follows %q, want %q", r, got[r], m)
		}
	}
	if w := inv.Servers[1].EffectiveWeight(); w != 2 {
		t.Errorf("server2 weight %v, want 2", w)
	}
	if inv.Gates.LatencyP99MS.Hold != 1000 || inv.Gates.HoldTimeout.Duration.Seconds() != 30 {
		t.Errorf("gates %+v", inv.Gates)
	}
}
