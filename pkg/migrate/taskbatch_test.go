package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/plan"
)

// blockingTasks is a TaskMover whose tasks run until ctl.Stop says stop
// (or 10s pass), as a server-side task would: it records what it was
// given and how it was stopped.
type blockingTasks struct {
	mu      sync.Mutex
	tasks   []Task
	started chan struct{}
	once    sync.Once
}

func (b *blockingTasks) Move(context.Context, plan.Move, Control) (Stats, error) {
	return Stats{}, errors.New("blockingTasks moves tasks only")
}

func (b *blockingTasks) Protocol() Protocol { return ProtocolValkeyASM }

func (b *blockingTasks) MoveTasks(_ context.Context, tasks []Task, ctl TaskControl) (Stats, error) {
	for _, t := range tasks {
		if err := ctl.Next(t); err != nil {
			return Stats{}, err
		}
		b.mu.Lock()
		b.tasks = append(b.tasks, t)
		b.mu.Unlock()
	}
	b.once.Do(func() { close(b.started) })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if err := ctl.Stop(); err != nil {
			return Stats{}, err // cancelled: the target owns none of it
		}
	}
	return Stats{}, errors.New("never stopped")
}

// TestTaskBatchStops: with a TaskMover, the executor hands it a batch's
// moves as one task per (source, target) pair, and the abort file or an
// interrupt stops (cancels) the running tasks; the run reports which.
func TestTaskBatchStops(t *testing.T) {
	tc := startWithEmptyMaster(t, 3, 0)
	p := tc.handPlan(t, 300, 50)
	p.Batches = []plan.Batch{{Number: 1, Moves: p.Moves}}
	for _, how := range []string{"abort file", "interrupt"} {
		t.Run(how, func(t *testing.T) {
			abort := filepath.Join(t.TempDir(), "abort")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m := &blockingTasks{started: make(chan struct{})}
			go func() {
				<-m.started
				time.Sleep(50 * time.Millisecond)
				if how == "abort file" {
					_ = os.WriteFile(abort, nil, 0o600)
				} else {
					cancel()
				}
			}()
			res, err := New(tc.pool, Options{Mover: m, AbortFile: abort}).Run(ctx, p, nil)
			want := ErrAborted
			if how == "interrupt" {
				want = ErrInterrupted
			}
			if !errors.Is(err, want) {
				t.Fatalf("Run: %v, want %v", err, want)
			}
			if len(m.tasks) != 3 {
				t.Errorf("%d tasks, want one per source (3): %+v", len(m.tasks), m.tasks)
			}
			for _, task := range m.tasks {
				if len(task.Ranges) != 1 || task.Slots() != 100 || task.To != tc.newID {
					t.Errorf("task %+v: want one range of 100 slots to the new master", task)
				}
			}
			if len(res.Batches) != 1 || res.Batches[0].State != BatchStopped || res.Done {
				t.Errorf("batches %+v done %v: want one stopped batch", res.Batches, res.Done)
			}
		})
	}
}
