//go:build !nnxcuda

package engine

import (
	"strings"
	"testing"
)

func TestSelectDeviceWithoutCUDA(t *testing.T) {
	_, _, err := SelectDevice("cuda")
	if err == nil {
		t.Fatal("device cuda in a build without CUDA: no error")
	}
	for _, want := range []string{"device cuda", "no CUDA support", "go build -tags nnxcuda ./cmd/nnx"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	info, note, err := SelectDevice("auto")
	if err != nil || info.Device != "cpu" || info.Name == "" || info.Driver != "" {
		t.Errorf("auto = %+v, %v; want cpu with a name and no driver", info, err)
	}
	if !strings.Contains(note, "using cpu") || !strings.Contains(note, "no CUDA support") {
		t.Errorf("auto's note %q does not say it uses the cpu and why", note)
	}

	for _, want := range []string{"cpu", ""} {
		info, note, err := SelectDevice(want)
		if err != nil || info.Device != "cpu" || note != "" {
			t.Errorf("SelectDevice(%q) = %+v, %q, %v; want cpu, no note", want, info, note, err)
		}
	}

	if _, _, err := SelectDevice("gpu"); err == nil || !strings.Contains(err.Error(), "valid: cpu, cuda, auto") {
		t.Errorf("SelectDevice(gpu): error %v, want one listing the valid devices", err)
	}
}
