package freshsqlite

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// notifier watches the directory of the database file and wakes the subscriptions
// of one Bus when the file or its -wal file changes: a commit in WAL mode appends to
// the -wal file, and a checkpoint writes the database file. (Writes to the -shm file,
// which is mmap'd, raise no event.) It watches the directory rather than the files,
// so that it sees the -wal file appear, and a file replaced by a rename.
//
// An event can arrive before the commit that caused it is visible (the wal-index in
// -shm is updated after the WAL frames are written), and events coalesce, so a
// subscription that wakes checks again a few times shortly after (settleDelays); the
// safety-net poll covers what the events miss.
type notifier struct {
	w     *fsnotify.Watcher
	names [2]string // base names of the files that matter: the database and its -wal
	stats *counters
	done  chan struct{} // closed when run returns

	mu      sync.Mutex
	targets map[chan struct{}]struct{} // guarded by mu: the subscriptions' fileWake channels
}

// startNotifier watches dir for changes of the database file named base and of its
// -wal file.
func startNotifier(dir, base string, stats *counters) (*notifier, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("freshsqlite: watch %s: %w", dir, err)
	}
	if err := w.Add(dir); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("freshsqlite: watch %s: %w", dir, err)
	}
	n := &notifier{
		w:       w,
		names:   [2]string{base, base + "-wal"},
		stats:   stats,
		done:    make(chan struct{}),
		targets: make(map[chan struct{}]struct{}),
	}
	go n.run()
	return n, nil
}

// run forwards the events that concern the log until the watcher closes. An error
// (an overflowing event queue) wakes every subscription, since an event may have
// been dropped.
func (n *notifier) run() {
	defer close(n.done)
	errs := n.w.Errors
	for {
		select {
		case ev, ok := <-n.w.Events:
			if !ok {
				return
			}
			if base := filepath.Base(ev.Name); base == n.names[0] || base == n.names[1] {
				n.fanOut()
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil // closed with Events; wait for that
				continue
			}
			n.fanOut()
		}
	}
}

// fanOut wakes every target, without blocking: a target already woken has a wake-up
// pending, and it reads everything new when it takes it.
func (n *notifier) fanOut() {
	n.stats.notifications.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.targets {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// add registers a subscription's channel.
func (n *notifier) add(ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.targets[ch] = struct{}{}
}

// remove unregisters a subscription's channel.
func (n *notifier) remove(ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.targets, ch)
}

// close stops watching and waits for run to return.
func (n *notifier) close() {
	_ = n.w.Close()
	<-n.done
}
