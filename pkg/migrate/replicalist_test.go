package migrate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memoryUsageCalls returns how many MEMORY USAGE calls addr has run since
// its stats were reset (the listing script's calls count too).
func memoryUsageCalls(t *testing.T, tc *testCluster, addr string) int64 {
	t.Helper()
	return commandCalls(t, tc, addr, "memory|usage")
}

// listings returns how many slot listings addr has run since its stats
// were reset: listing scripts (every key measured) and GETKEYSINSLOT
// (none or some measured; see LegacyOptions.SizeEvery).
func listings(t *testing.T, tc *testCluster, addr string) int64 {
	t.Helper()
	return commandCalls(t, tc, addr, "eval") + commandCalls(t, tc, addr, "cluster|getkeysinslot")
}

// commandCalls returns how many calls of cmd (as INFO commandstats names
// it, e.g. "eval") addr has run since its stats were reset.
func commandCalls(t *testing.T, tc *testCluster, addr, cmd string) int64 {
	t.Helper()
	s, err := tc.pool.Client(addr).Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", addr, line, err)
		}
		return n
	}
	return 0
}

// The costly listing (every key and MEMORY USAGE) runs on the sources'
// replicas, while writes land on the moving slots: the sources themselves
// only list what the replicas had not seen, and no acknowledged write is
// lost. A replica that cannot answer falls back to its master.
func TestListKeysOnReplica(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 3)
	const nkeys = 20000
	tc.Load(t, nkeys, valueSize)
	ctx := context.Background()
	snap := tc.observe(t)
	listFrom := map[string]string{}
	var sources, replicas []string
	addrOf := map[string]string{}
	for _, n := range snap.View() {
		addrOf[n.ID] = n.Addr
	}
	for _, n := range snap.View() {
		if n.IsReplica() {
			m := addrOf[n.MasterID]
			if m == "" {
				t.Fatalf("replica %s of unknown master %s", n.Addr, n.MasterID)
			}
			listFrom[m] = n.Addr
			sources, replicas = append(sources, m), append(replicas, n.Addr)
		}
	}
	if len(listFrom) != 3 {
		t.Fatalf("ListFrom = %v, want a replica for each of 3 masters", listFrom)
	}
	for _, a := range tc.all() {
		if err := tc.pool.Client(a).ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}

	// A writer keeps writing new keys while the slots move; every
	// acknowledged one must be there afterwards.
	cc := tc.ClusterClient()
	wctx, stopWriter := context.WithTimeout(ctx, 30*time.Second)
	var (
		wg    sync.WaitGroup
		acked []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50000 && wctx.Err() == nil; i++ {
			k := fmt.Sprintf("during:%d", i)
			if cc.Set(wctx, k, k, 0).Err() == nil {
				acked = append(acked, k)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()

	p := tc.handPlan(t, 4096, 512)
	res, err := New(tc.pool, Options{ListFrom: listFrom}).Run(ctx, p, &fakeGate{})
	stopWriter()
	wg.Wait()
	if err != nil || !res.Done {
		t.Fatalf("Run = done %v, %v", res.Done, err)
	}
	groups := 0
	for _, r := range replicas {
		groups += res.ListedOnReplicas[r]
	}
	if groups == 0 || len(res.ListedOnReplicas) != 3 {
		t.Errorf("ListedOnReplicas = %v, want every source's replica", res.ListedOnReplicas)
	}
	var onSources, onReplicas, replicaListings, listed, counts int64
	for i := range sources {
		onSources += memoryUsageCalls(t, tc, sources[i])
		onReplicas += memoryUsageCalls(t, tc, replicas[i])
		replicaListings += listings(t, tc, replicas[i])
		listed += listings(t, tc, sources[i])
		counts += commandCalls(t, tc, sources[i], "cluster|countkeysinslot")
	}
	// After MIGRATE, the sources count each slot's keys and list only the
	// slots that still hold some (the writer's): one listing per slot on
	// the sources would be 4096.
	t.Logf("on the sources: %d listings, %d COUNTKEYSINSLOT", listed, counts)
	if counts < int64(res.Slots) || listed > int64(res.Slots)/4 {
		t.Errorf("the sources ran %d listings and %d COUNTKEYSINSLOT for %d slots: want a count per slot and a listing only where keys were left", listed, counts, res.Slots)
	}
	// Every slot is listed once on a replica before it opens; its keys are
	// small, so only some of them are measured (LegacyOptions.SizeEvery).
	t.Logf("listings on the replicas: %d; MEMORY USAGE calls: %d on the replicas, %d on the sources; %d slots and %d keys moved, %d groups listed on replicas, %d writes during the move",
		replicaListings, onReplicas, onSources, res.Slots, res.Keys, groups, len(acked))
	if replicaListings < int64(res.Slots)*9/10 || onReplicas == 0 || onSources > onReplicas/10 {
		t.Errorf("the listing did not move off the sources: %d listings on replicas for %d slots; MEMORY USAGE %d on replicas, %d on sources", replicaListings, res.Slots, onReplicas, onSources)
	}
	tc.waitAgreed(t)
	tc.assertNoOpenSlots(t)
	tc.CheckKeys(t, nkeys, valueSize)
	if len(acked) < 100 {
		t.Fatalf("only %d writes during the move", len(acked))
	}
	for _, k := range acked {
		if v, err := cc.Get(ctx, k).Result(); err != nil || v != k {
			t.Fatalf("acknowledged write %s: %q, %v", k, v, err)
		}
	}

	t.Run("a replica that does not answer falls back to its master", func(t *testing.T) {
		from := map[string]string{}
		for _, s := range sources {
			from[s] = "127.0.0.1:1"
		}
		p := tc.handPlan(t, 4096, 512) // 4096 more of the old masters' slots
		res, err := New(tc.pool, Options{ListFrom: from}).Run(ctx, p, &fakeGate{})
		if err != nil || !res.Done || res.Slots == 0 {
			t.Fatalf("Run = done %v, %d slots, %v", res.Done, res.Slots, err)
		}
		if len(res.ListedOnReplicas) != 0 {
			t.Errorf("ListedOnReplicas = %v from a dead address", res.ListedOnReplicas)
		}
		tc.waitAgreed(t)
		tc.assertNoOpenSlots(t)
		tc.CheckKeys(t, nkeys, valueSize)
	})
}
