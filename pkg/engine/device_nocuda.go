//go:build !nnxcuda

package engine

import "errors"

// errNoCUDA is why a build without the nnxcuda tag cannot use a GPU.
var errNoCUDA = errors.New("this build of nnx has no CUDA support; build one with `" + cudaBuildHint +
	"` (it needs no CUDA to build; to run, an NVIDIA driver and CUDA's libcudart and libcublas)")

// useCUDA reports that this build cannot use a GPU.
func useCUDA() (DeviceInfo, error) { return DeviceInfo{}, errNoCUDA }

// useCPU does nothing: this build only multiplies on the CPU.
func useCPU() {}
