package engine

import (
	"runtime"
	"sync"

	"gorgonia.org/tensor"
)

// outBuf keeps an op's output between steps. gorgonia's tape machine drops
// its registers on Reset, so an op whose Do allocated would allocate its
// output again every step: megabytes per CNN step, the garbage collector's
// work, and a peak RSS that creeps up over the first epochs. Each op owns
// one buffer and a graph runs its ops one at a time, so nothing writes the
// buffer between the op and the ops that read it.
type outBuf struct{ t *tensor.Dense }

// get returns the op's output tensor, new only when the dtype or shape
// changed (gorgonia reshapes some values in place).
func (b *outBuf) get(dt tensor.Dtype, shape ...int) *tensor.Dense {
	if b.t == nil || b.t.Dtype() != dt || !b.t.Shape().Eq(tensor.Shape(shape)) {
		b.t = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	}
	return b.t
}

// parallelFor calls fn on disjoint ranges [lo, hi) that cover [0, n),
// side by side on up to GOMAXPROCS goroutines, each range at least grain
// long; small n runs inline. fn must write only what its range owns, so the
// result is the same, bit for bit, whatever the number of cores: every
// value is computed by one goroutine in the order a single one would.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(grain, 1))
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { fn(w*n/workers, (w+1)*n/workers) })
	}
	fn(0, n/workers)
	wg.Wait()
}

// elemGrain is the least number of values worth a goroutine of their own
// in an elementwise op: a few microseconds of work, well above what
// starting one costs.
const elemGrain = 16 << 10
