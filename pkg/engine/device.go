package engine

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// DeviceInfo describes the device a process trains on.
type DeviceInfo struct {
	Device string // "cpu" or "cuda"
	Name   string // the GPU's name, or the CPU's model
	Driver string // driver, CUDA and cuBLAS versions; "" on cpu
}

// cudaBuildHint tells a user how to get a build of nnx that can use a GPU.
const cudaBuildHint = "go build -tags nnxcuda ./cmd/nnx"

// SelectDevice resolves "cpu", "cuda" or "auto" for this process. For cuda
// it loads the CUDA libraries, checks that a GPU is usable, switches
// gorgonia's BLAS to cuBLAS (the libraries load once per process) and
// returns the GPU's info; cpu switches the BLAS back. "auto" gives cuda when
// it is usable, else cpu, with a note saying which it chose and why. "cuda"
// when no GPU is usable, or in a build without CUDA, is an error naming
// what is missing. The BLAS is process-wide: select before training, not
// while a network steps.
func SelectDevice(want string) (info DeviceInfo, note string, err error) {
	switch want {
	case "cpu", "":
		useCPU()
		return cpuInfo(), "", nil
	case "cuda":
		info, err := useCUDA()
		if err != nil {
			return DeviceInfo{}, "", fmt.Errorf("device cuda: %w", err)
		}
		return info, "", nil
	case "auto":
		info, err := useCUDA()
		if err == nil {
			return info, fmt.Sprintf("device auto: using cuda (%s, %s)", info.Name, info.Driver), nil
		}
		useCPU()
		return cpuInfo(), "device auto: using cpu: " + err.Error(), nil
	}
	return DeviceInfo{}, "", fmt.Errorf("unknown device %q (valid: cpu, cuda, auto)", want)
}

// cpuInfo describes this machine's processor.
func cpuInfo() DeviceInfo {
	name := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, v, ok := strings.Cut(s.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	return DeviceInfo{Device: "cpu", Name: fmt.Sprintf("%s, %d threads", name, runtime.NumCPU())}
}
