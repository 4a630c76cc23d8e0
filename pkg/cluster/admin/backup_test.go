package admin_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestSaveWaitsForRunningSave starts a slow BGSAVE behind Save's back:
// Save must wait for it, ask again, and return only after its own save.
func TestSaveWaitsForRunningSave(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	c.Load(t, 60, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := newPool(t, c.Password)
	addr := c.Nodes[0].Addr

	path, err := p.RDBPath(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.Nodes[0].Dir, "dump.rdb"); path != want {
		t.Errorf("RDBPath = %s, want %s", path, want)
	}
	before, err := p.Persistence(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if before.Saves < 0 || before.InProgress || before.RedisVersion == "" {
		t.Fatalf("persistence before: %+v", before)
	}
	// About 20 keys on this node at 20 ms each: a save of ~0.4 s.
	if err := c.Client(0).ConfigSet(ctx, "rdb-key-save-delay", "20000").Err(); err != nil {
		t.Fatal(err)
	}
	if err := p.BGSave(ctx, addr); err != nil {
		t.Fatal(err)
	}
	err = p.BGSave(ctx, addr)
	if !admin.IsSaveInProgress(err) {
		t.Fatalf("second BGSAVE: %v, want 'already in progress'", err)
	}
	st, err := p.Save(ctx, addr, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if st.InProgress || st.Saves != before.Saves+2 || st.LastStatus != "ok" {
		t.Errorf("after Save: %+v; want no save running and 2 more saves than %d", st, before.Saves)
	}
	last, err := p.LastSave(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if !last.Equal(st.LastSave) || last.Before(before.LastSave) {
		t.Errorf("LASTSAVE %s, INFO %s, before %s", last, st.LastSave, before.LastSave)
	}

	// A context that ends while the save runs is an error, not a hang.
	if err := p.BGSave(ctx, addr); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := p.Save(short, addr, 10*time.Millisecond); err == nil {
		t.Error("Save returned without error after its context ended during a running save")
	}
}
