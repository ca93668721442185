package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nnx-dev/nnx/pkg/grid"
)

// shard is one part of a sweep split across machines: trial k (in grid
// order, from 0) belongs to shard k mod Count. Round robin rather than a
// hash of the id: every shard gets the same number of trials, within one,
// and neighbouring trials (often of similar cost) land on different shards.
type shard struct {
	Index, Count int
}

// parseShard reads --shard: "I/N", or "N" with I taken from the
// scheduler's environment (JOB_COMPLETION_INDEX for a Kubernetes Indexed
// Job, SLURM_ARRAY_TASK_ID for a Slurm array). Empty means no sharding.
func parseShard(flag string, getenv func(string) string) (*shard, error) {
	if flag == "" {
		return nil, nil
	}
	idx, count, hasIdx := strings.Cut(flag, "/")
	if !hasIdx {
		idx, count = "", flag
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return nil, usageError{fmt.Errorf("--shard %s: want I/N or N with N a whole number >= 1", flag)}
	}
	src := "--shard"
	if !hasIdx {
		for _, v := range []string{"JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"} {
			if getenv(v) != "" {
				idx, src = getenv(v), "$"+v
				break
			}
		}
		if idx == "" {
			return nil, usageError{fmt.Errorf("--shard %s: no shard index: give I/N, or run under a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX) or a Slurm array ($SLURM_ARRAY_TASK_ID)", flag)}
		}
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || i >= n {
		return nil, usageError{fmt.Errorf("%s: shard index %q is not in 0..%d", src, idx, n-1)}
	}
	return &shard{Index: i, Count: n}, nil
}

// filter keeps the trials of this shard.
func (s *shard) filter(trials []grid.Trial) []grid.Trial {
	if s == nil {
		return trials
	}
	var out []grid.Trial
	for _, t := range trials {
		if t.Index%s.Count == s.Index {
			out = append(out, t)
		}
	}
	return out
}

func (s *shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }
