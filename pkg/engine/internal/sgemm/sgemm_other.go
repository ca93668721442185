//go:build !amd64

package sgemm

// Fits is false off amd64: there is no kernel, and gonum does the product.
func Fits(m, n, k int) bool { return false }

func kern4x16(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int) {
	panic("sgemm: no kernel on this architecture")
}
