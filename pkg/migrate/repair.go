package migrate

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/logkey"
)

// Endpoint is a cluster node as the slot protocol addresses it: by its
// node id (for SETSLOT) and its address (to connect to).
type Endpoint struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// Marker is one open-slot marker a node reports about itself: migrating to
// Peer, or importing from Peer.
type Marker struct {
	Node Endpoint `json:"node"`
	Peer Endpoint `json:"peer"`
}

// OpenSlot is everything the nodes say about one open slot.
type OpenSlot struct {
	Slot      int      `json:"slot"`
	Migrating []Marker `json:"migrating,omitempty"`
	Importing []Marker `json:"importing,omitempty"`
	// Claims are the ids of the nodes that list the slot as their own in
	// their own CLUSTER NODES line, sorted.
	Claims []string `json:"claims,omitempty"`
	// Owner is the claimant when exactly one node claims the slot.
	Owner Endpoint `json:"owner,omitzero"`
}

// FindOpen lists every slot that some reachable node reports as migrating or
// importing in its own CLUSTER NODES line, ascending. It does no I/O.
func FindOpen(snap *cluster.Snapshot) []OpenSlot {
	addrs := map[string]string{} // id -> addr, from every view
	for _, o := range snap.Reachable() {
		for _, n := range o.Nodes {
			if n.Addr != "" && (addrs[n.ID] == "" || n.Myself()) {
				addrs[n.ID] = n.Addr
			}
		}
	}
	ref := func(id string) Endpoint { return Endpoint{ID: id, Addr: addrs[id]} }
	open := map[int]*OpenSlot{}
	get := func(s int) *OpenSlot {
		if open[s] == nil {
			open[s] = &OpenSlot{Slot: s}
		}
		return open[s]
	}
	var selves []cluster.Node
	for _, o := range snap.Reachable() {
		me, ok := o.Self()
		if !ok {
			continue
		}
		if me.Addr == "" {
			me.Addr = o.Addr
		}
		addrs[me.ID] = me.Addr
		selves = append(selves, me)
	}
	for _, me := range selves {
		for s, peer := range me.Migrating {
			get(s).Migrating = append(get(s).Migrating, Marker{Node: ref(me.ID), Peer: ref(peer)})
		}
		for s, peer := range me.Importing {
			get(s).Importing = append(get(s).Importing, Marker{Node: ref(me.ID), Peer: ref(peer)})
		}
	}
	out := make([]OpenSlot, 0, len(open))
	for s, o := range open {
		for _, me := range selves {
			if me.Slots.Has(s) {
				o.Claims = append(o.Claims, me.ID)
			}
		}
		sort.Strings(o.Claims)
		if len(o.Claims) == 1 {
			o.Owner = ref(o.Claims[0])
		}
		byNode := func(ms []Marker) {
			sort.Slice(ms, func(i, j int) bool { return ms[i].Node.ID < ms[j].Node.ID })
		}
		byNode(o.Migrating)
		byNode(o.Importing)
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// ActionKind is how Repair closes one open slot.
type ActionKind string

// Repair actions.
const (
	// Finish moves the rest of the keys from Source to Target (re-opening a
	// side that lost its marker first) and publishes Target as the owner to
	// the target, the source and every other master.
	Finish ActionKind = "finish"
	// StableSource closes the slot on the source; it stays the owner. Only
	// when no key has moved.
	StableSource ActionKind = "stable-source"
	// StableTarget closes the importing marker on the target; the source
	// stays the owner. Only when the target holds no key of the slot.
	StableTarget ActionKind = "stable-target"
	// Manual: the markers contradict each other; a person must look.
	Manual ActionKind = "manual"
)

// Action is the decision for one open slot.
type Action struct {
	Kind        ActionKind `json:"kind"`
	Slot        int        `json:"slot"`
	Source      Endpoint   `json:"source"`
	Target      Endpoint   `json:"target"`
	ReImporting bool       `json:"reimporting,omitempty"` // send IMPORTING to the target again first
	ReMigrating bool       `json:"remigrating,omitempty"` // send MIGRATING to the source again first
	// Announce tells the target who owns the slot first (SETSLOT NODE
	// Source): an importing node ignores the new owner's claims, so after
	// a failover it takes the slot for unserved and refuses even ASKING.
	Announce bool   `json:"announce,omitempty"`
	Reason   string `json:"reason"`
}

// Resolve decides how to close one open slot, given how many keys of the
// slot the source and the target hold. It does no I/O. The rule: once a key
// may have reached the target, go forward (finish the move); when provably
// nothing moved, close the marker and leave the slot with the source.
func Resolve(o OpenSlot, keysOnSource, keysOnTarget int64) Action {
	a := Action{Slot: o.Slot}
	claims := func(id string) bool {
		for _, c := range o.Claims {
			if c == id {
				return true
			}
		}
		return false
	}
	manual := func(format string, args ...any) Action {
		a.Kind, a.Reason = Manual, fmt.Sprintf(format, args...)
		return a
	}
	if len(o.Migrating) > 1 || len(o.Importing) > 1 {
		return manual("slot %d: %d migrating and %d importing markers", o.Slot, len(o.Migrating), len(o.Importing))
	}
	switch {
	case len(o.Migrating) == 1 && len(o.Importing) == 1:
		mig, imp := o.Migrating[0], o.Importing[0]
		a.Source, a.Target = mig.Node, mig.Peer
		if imp.Node.ID != mig.Peer.ID || imp.Peer.ID != mig.Node.ID {
			return manual("slot %d: %s migrates to %s but %s imports from %s", o.Slot, mig.Node.Addr, mig.Peer.Addr, imp.Node.Addr, imp.Peer.Addr)
		}
		a.Kind, a.Reason = Finish, "both sides open: finish the move"
		return a

	case len(o.Migrating) == 1:
		mig := o.Migrating[0]
		a.Source, a.Target = mig.Node, mig.Peer
		if mig.Peer.Addr == "" {
			return manual("slot %d: migrating to unknown node %s", o.Slot, mig.Peer.ID)
		}
		if claims(a.Target.ID) {
			a.Kind, a.Reason = Finish, "target already owns the slot: publish it to the source and the others"
			return a
		}
		if keysOnTarget == 0 {
			// Without an importing marker the target refuses ASK-redirected
			// writes, so no key can be there but the ones MIGRATE moved.
			a.Kind, a.Reason = StableSource, "only the source is open and the target holds no key: close it on the source"
			return a
		}
		a.Kind, a.ReImporting, a.Reason = Finish, true, "target lost its importing marker with keys in flight: re-open it and finish"
		return a

	case len(o.Importing) == 1:
		imp := o.Importing[0]
		a.Source, a.Target = imp.Peer, imp.Node
		if a.Source.Addr == "" {
			return manual("slot %d: importing from unknown node %s", o.Slot, imp.Peer.ID)
		}
		if claims(a.Source.ID) {
			if keysOnTarget == 0 {
				a.Kind, a.Reason = StableTarget, "only the target is open and holds no key: close it on the target"
				return a
			}
			a.Kind, a.ReMigrating, a.Reason = Finish, true, "target holds keys of the slot: re-open the source and finish"
			return a
		}
		if len(o.Claims) == 1 && o.Claims[0] != a.Target.ID && o.Owner.ID == o.Claims[0] && o.Owner.Addr != "" {
			// The source failed over mid-move: its replica owns the slot
			// now and has no marker (a node closes its slots when it
			// changes role). Go on from the owner, whose copy of a key is
			// the one clients have been writing.
			a.Source, a.Announce = o.Owner, true
			if keysOnTarget == 0 {
				a.Kind, a.Reason = StableTarget, "the source failed over and the target holds no key: close it on the target"
				return a
			}
			a.Kind, a.ReImporting, a.ReMigrating = Finish, true, true
			a.Reason = "the source failed over with keys on the target: re-open both sides from the new owner and finish"
			return a
		}
		for _, c := range o.Claims {
			if c != a.Target.ID {
				return manual("slot %d: importing on %s from %s, but owned by %s", o.Slot, a.Target.Addr, a.Source.Addr, c)
			}
		}
		if keysOnSource > 0 {
			return manual("slot %d: %s holds %d keys of a slot it no longer owns", o.Slot, a.Source.Addr, keysOnSource)
		}
		a.Kind, a.Reason = Finish, "the source already gave the slot away: publish the target as owner"
		return a
	}
	return manual("slot %d: no marker", o.Slot)
}

// Repair closes every open slot of snap deterministically (see Resolve) and
// returns the slots it closed. masters for the SETSLOT NODE broadcast come
// from snap's view. A slot needing a person is reported in the error; the
// others are still repaired.
func Repair(ctx context.Context, pool *admin.Pool, snap *cluster.Snapshot) ([]int, error) {
	open := FindOpen(snap)
	if len(open) == 0 {
		return nil, nil
	}
	var masters []string
	for _, n := range snap.View() {
		if n.IsMaster() && n.Addr != "" && !n.Failing() {
			masters = append(masters, n.Addr)
		}
	}
	l := NewLegacy(pool, masters, LegacyOptions{})
	defer l.Close()
	var done []int
	var errs []error
	plans := make([]repairPlan, 0, len(open))
	for _, o := range open {
		p, err := l.decide(ctx, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans = append(plans, p)
	}
	// Announce every owner before moving anything: a target that takes
	// one slot for unserved reports cluster_state fail and refuses the
	// MIGRATE of every other.
	for i, p := range plans {
		if !p.a.Announce {
			continue
		}
		if err := l.setSlots(ctx, p.a.Target.Addr, []int{p.a.Slot}, "NODE", p.a.Source.ID, nil); err != nil {
			errs = append(errs, fmt.Errorf("repair slot %d: %w", p.a.Slot, err))
			plans[i].a.Kind = Manual
		}
	}
	for _, p := range plans {
		if p.a.Kind == Manual && p.a.Announce {
			continue // its error is recorded
		}
		if err := l.apply(ctx, p); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, p.a.Slot)
	}
	return done, errors.Join(errs...)
}

// repairPlan is the decision for one open slot and the keys the source
// held when it was made.
type repairPlan struct {
	a  Action
	ks int64
}

func (l *Legacy) count(ctx context.Context, addr string, slot int) (int64, error) {
	if addr == "" {
		return 0, nil
	}
	return l.clients.CountKeysInSlot(ctx, addr, slot)
}

// decide counts the keys of o's slot on its source and target and
// resolves it.
func (l *Legacy) decide(ctx context.Context, o OpenSlot) (repairPlan, error) {
	probe := Resolve(o, 0, 0) // only to learn source and target
	ks, err := l.count(ctx, probe.Source.Addr, o.Slot)
	if err != nil {
		return repairPlan{}, err
	}
	kt, err := l.count(ctx, probe.Target.Addr, o.Slot)
	if err != nil {
		return repairPlan{}, err
	}
	return repairPlan{a: Resolve(o, ks, kt), ks: ks}, nil
}

// apply carries out p (its owner already announced).
func (l *Legacy) apply(ctx context.Context, p repairPlan) error {
	a, ks := p.a, p.ks
	l.opts.Log.Info("repairing open slot", logkey.Slot, a.Slot, "action", string(a.Kind), "source", a.Source.Addr, "target", a.Target.Addr, "reason", a.Reason)
	slots := []int{a.Slot}
	switch a.Kind {
	case StableSource:
		return l.setSlots(ctx, a.Source.Addr, slots, "STABLE", "", nil)
	case StableTarget:
		return l.setSlots(ctx, a.Target.Addr, slots, "STABLE", "", nil)
	case Finish:
		src, dst := a.Source, a.Target
		if a.ReImporting {
			if err := l.setSlots(ctx, dst.Addr, slots, "IMPORTING", src.ID, nil); err != nil {
				return err
			}
		}
		if a.ReMigrating {
			if err := l.setSlots(ctx, src.Addr, slots, "MIGRATING", dst.ID, nil); err != nil {
				return err
			}
		}
		var st Stats
		if ks > 0 {
			// The source must be migrating for MIGRATE to be accepted; it is,
			// unless only the target was open, and then it holds no key.
			if _, err := l.drain(ctx, src, dst, slots, nil); err != nil {
				return fmt.Errorf("repair slot %d: %w", a.Slot, err)
			}
		}
		// Publishing to the target first is harmless when it owns the slot.
		if err := l.publish(ctx, src, dst, slots, &st); err != nil {
			return fmt.Errorf("repair slot %d: %w", a.Slot, err)
		}
		return nil
	default:
		return fmt.Errorf("repair slot %d: %s", a.Slot, a.Reason)
	}
}
