//go:build nnxcuda

package engine

import (
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// cublasBLAS is the BLAS gorgonia uses on device cuda: its matrix products
// (Sgemm, Dgemm: every MatMul of a graph and every product of the conv op)
// run on the GPU through cuBLAS; every other routine is gonum's pure-Go
// one, and so are products smaller than minMACs multiply-adds, which a round
// trip to the GPU would only slow down. A product packs its operands into
// one pinned host buffer, copies it to the GPU in one transfer, multiplies
// and copies the result back: the rest of the graph stays on the CPU. It is
// safe for concurrent use (products take turns on the GPU).
type cublasBLAS struct {
	gonum.Implementation
	api     *cudaAPI
	handle  uintptr
	minMACs int // products of fewer multiply-adds (m*n*k) stay on the CPU

	mu     sync.Mutex
	dev    uintptr        // device buffer: A, B and C packed
	host   unsafe.Pointer // pinned host buffer of the same size
	size   uint64         // bytes in each
	broken error          // the first GPU failure; from then on products run on the CPU
	onGPU  int64          // products run on the GPU, for tests
}

// gemmFunc is cublasSgemm_v2 or cublasDgemm_v2.
type gemmFunc[T float32 | float64] func(h uintptr, ta, tb, m, n, k int32, alpha *T, a uintptr, lda int32,
	b uintptr, ldb int32, beta *T, c uintptr, ldc int32) int32

// Sgemm computes C = alpha * op(A) * op(B) + beta * C in float32, row-major
// as gonum's, on the GPU.
func (bl *cublasBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !bl.useGPU(tA, tB, m, n, k, alpha == 0, len(a), lda, len(b), ldb, len(c), ldc) {
		bl.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if err := gemm(bl, bl.api.sgemm, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); err != nil {
		bl.fail(err)
		bl.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// Dgemm computes C = alpha * op(A) * op(B) + beta * C in float64, row-major
// as gonum's, on the GPU.
func (bl *cublasBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int,
	b []float64, ldb int, beta float64, c []float64, ldc int) {
	if !bl.useGPU(tA, tB, m, n, k, alpha == 0, len(a), lda, len(b), ldb, len(c), ldc) {
		bl.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if err := gemm(bl, bl.api.dgemm, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); err != nil {
		bl.fail(err)
		bl.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// useGPU reports whether a product goes to the GPU: its arguments are
// valid (gonum checks, and panics on, invalid ones as it does on the CPU),
// it is big enough to be worth a round trip, and the GPU has not failed.
func (bl *cublasBLAS) useGPU(tA, tB blas.Transpose, m, n, k int, alphaZero bool, la, lda, lb, ldb, lc, ldc int) bool {
	if !isTrans(tA) || !isTrans(tB) || m <= 0 || n <= 0 || k <= 0 || alphaZero || m*n*k < bl.minMACs {
		return false
	}
	ra, ca := m, k
	if tA != blas.NoTrans {
		ra, ca = k, m
	}
	rb, cb := k, n
	if tB != blas.NoTrans {
		rb, cb = n, k
	}
	fits := func(rows, cols, ld, l int) bool {
		return ld >= cols && rows <= math.MaxInt32 && cols <= math.MaxInt32 && l >= (rows-1)*ld+cols
	}
	if !fits(ra, ca, lda, la) || !fits(rb, cb, ldb, lb) || !fits(m, n, ldc, lc) {
		return false
	}
	bl.mu.Lock()
	defer bl.mu.Unlock()
	return bl.broken == nil
}

func isTrans(t blas.Transpose) bool {
	return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
}

// gemm runs one row-major product on the GPU. cuBLAS is column-major, and
// a row-major matrix read column-major is its transpose, so it computes
// Cᵀ = op(B)ᵀ · op(A)ᵀ: the same call with A and B, and m and n, swapped.
// Operands are packed without their row gaps (a conv op's per-image
// products read a few columns of a wide matrix), A, B and, when beta reads
// it, C in one transfer up; C comes back in one transfer down.
func gemm[T float32 | float64](bl *cublasBLAS, run gemmFunc[T], tA, tB blas.Transpose, m, n, k int, alpha T,
	a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) error {
	ra, ca := m, k
	if tA != blas.NoTrans {
		ra, ca = k, m
	}
	rb, cb := k, n
	if tB != blas.NoTrans {
		rb, cb = n, k
	}
	size := uint64(unsafe.Sizeof(alpha))
	// Offsets in elements, each operand aligned to 256 bytes.
	align := func(x int) int { return (x + 255/int(size)) &^ (256/int(size) - 1) }
	offB := align(ra * ca)
	offC := offB + align(rb*cb)
	end := offC + m*n

	bl.mu.Lock()
	defer bl.mu.Unlock()
	if bl.broken != nil {
		return bl.broken
	}
	if err := bl.reserve(uint64(end) * size); err != nil {
		return err
	}
	stage := unsafe.Slice((*T)(bl.host), end)
	pack(stage[:offB], a, ra, ca, lda)
	pack(stage[offB:offC], b, rb, cb, ldb)
	up := offC
	if beta != 0 {
		pack(stage[offC:end], c, m, n, ldc)
		up = end
	}
	api := bl.api
	if err := api.cudaErr("cudaMemcpyAsync to the GPU", api.memcpyHtoD(bl.dev, bl.host, uint64(up)*size, memcpyHostToDevice, 0)); err != nil {
		return err
	}
	devB, devC := bl.dev+uintptr(offB)*uintptr(size), bl.dev+uintptr(offC)*uintptr(size)
	if err := api.cublasErr("cublas gemm", run(bl.handle, cublasOp(tB), cublasOp(tA), int32(n), int32(m), int32(k),
		&alpha, devB, int32(cb), bl.dev, int32(ca), &beta, devC, int32(n))); err != nil {
		return err
	}
	if err := api.cudaErr("cudaMemcpyAsync from the GPU", api.memcpyDtoH(unsafe.Pointer(&stage[offC]), devC, uint64(m*n)*size, memcpyDeviceToHost, 0)); err != nil {
		return err
	}
	if err := api.cudaErr("cudaStreamSynchronize", api.streamSync(0)); err != nil {
		return err
	}
	unpack(c, stage[offC:end], m, n, ldc)
	bl.onGPU++
	return nil
}

// pack copies a rows x cols matrix with leading dimension ld into dst
// without gaps.
func pack[T float32 | float64](dst, src []T, rows, cols, ld int) {
	if ld == cols {
		copy(dst[:rows*cols], src)
		return
	}
	for i := range rows {
		copy(dst[i*cols:(i+1)*cols], src[i*ld:i*ld+cols])
	}
}

// unpack copies a gapless rows x cols matrix into dst with leading
// dimension ld, leaving the gaps as they were.
func unpack[T float32 | float64](dst, src []T, rows, cols, ld int) {
	if ld == cols {
		copy(dst[:rows*cols], src)
		return
	}
	for i := range rows {
		copy(dst[i*ld:i*ld+cols], src[i*cols:(i+1)*cols])
	}
}

func cublasOp(t blas.Transpose) int32 {
	if t == blas.NoTrans {
		return cublasOpN
	}
	return cublasOpT
}

// reserve makes the device and pinned host buffers hold at least size
// bytes, growing both (to at least twice their size, in whole MiB) when
// they hold less. bl.mu must be held.
func (bl *cublasBLAS) reserve(size uint64) error {
	if bl.size >= size {
		return nil
	}
	api := bl.api
	if bl.dev != 0 {
		if err := api.cudaErr("cudaFree", api.free(bl.dev)); err != nil {
			return err
		}
		bl.dev = 0
	}
	if bl.host != nil {
		if err := api.cudaErr("cudaFreeHost", api.freeHost(bl.host)); err != nil {
			return err
		}
		bl.host = nil
	}
	want := max(size, 2*bl.size)
	want = (want + 1<<20 - 1) &^ (1<<20 - 1)
	bl.size = 0
	if err := api.cudaErr(fmt.Sprintf("cudaMalloc(%d bytes)", want), api.malloc(&bl.dev, want)); err != nil {
		return err
	}
	if err := api.cudaErr(fmt.Sprintf("cudaMallocHost(%d bytes)", want), api.mallocHost(&bl.host, want)); err != nil {
		return err
	}
	bl.size = want
	return nil
}

// fail records the GPU's first failure and says once, on stderr, that
// matrix products go on on the CPU; SelectDevice reports it from then on.
func (bl *cublasBLAS) fail(err error) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	if bl.broken == nil {
		bl.broken = err
		fmt.Fprintf(os.Stderr, "nnx: the GPU failed (%v); matrix products go on on the CPU\n", err)
	}
}

// products counts the products run on the GPU so far.
func (bl *cublasBLAS) products() int64 {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	return bl.onGPU
}

// failure is the GPU's first failure, or nil.
func (bl *cublasBLAS) failure() error {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	return bl.broken
}
