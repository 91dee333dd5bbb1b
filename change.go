package latchkey

import "sync"

// ChangeFeed fans committed changes out to subscribers. Stores embed one to implement Subscribe.
type ChangeFeed struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Change)
}

// Subscribe registers fn and returns a function that removes it.
func (f *ChangeFeed) Subscribe(fn func(Change)) (cancel func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[int]func(Change){}
	}
	id := f.next
	f.next++
	f.subs[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

// Publish calls every subscriber with each change, in order.
func (f *ChangeFeed) Publish(changes ...Change) {
	if len(changes) == 0 {
		return
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, c := range changes {
		for _, fn := range f.subs {
			fn(c)
		}
	}
}
