package results

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/nnx-dev/nnx/pkg/train"
)

// Trial file and directory names.
const (
	WeightsFile   = "weights.safetensors" // the trial's best fold's weights
	CheckpointDir = ".checkpoint"         // per-fold checkpoints of an unfinished trial
	lockFile      = ".lock"
)

// State is where a trial stands in a results directory.
type State string

// Trial states.
const (
	Missing State = "missing" // never started
	Partial State = "partial" // interrupted: checkpoints exist
	Done    State = "done"
	Failed  State = "failed"
	Running State = "running" // locked by a live nnx run
)

// TrialState reports a trial's state, with its metrics when it has any.
func (s Store) TrialState(experiment, id string) (State, *Metrics, error) {
	dir := s.TrialDir(experiment, id)
	if _, busy := lockedBy(filepath.Join(dir, lockFile)); busy {
		return Running, nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	switch {
	case err == nil:
		var m Metrics
		if err := json.Unmarshal(b, &m); err != nil {
			return Missing, nil, fmt.Errorf("%s: %w", filepath.Join(dir, MetricsFile), err)
		}
		if m.Status == StatusDone {
			return Done, &m, nil
		}
		return Failed, &m, nil
	case !os.IsNotExist(err):
		return Missing, nil, err
	}
	if entries, err := os.ReadDir(filepath.Join(dir, CheckpointDir)); err == nil && len(entries) > 0 {
		return Partial, nil, nil
	}
	return Missing, nil, nil
}

// Checkpoints keeps a trial's fold checkpoints as gob files under its
// .checkpoint directory, each written atomically.
type Checkpoints struct {
	Dir string
}

// Checkpoints returns the checkpoint store of a trial.
func (s Store) Checkpoints(experiment, id string) Checkpoints {
	return Checkpoints{Dir: filepath.Join(s.TrialDir(experiment, id), CheckpointDir)}
}

func (c Checkpoints) path(fold int) string {
	return filepath.Join(c.Dir, fmt.Sprintf("fold-%d.gob", fold))
}

// Load reads a fold's checkpoint, or returns nil when there is none.
func (c Checkpoints) Load(fold int) (*train.Checkpoint, error) {
	b, err := os.ReadFile(c.path(fold))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ck train.Checkpoint
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&ck); err != nil {
		return nil, fmt.Errorf("%s: unreadable checkpoint (delete it to retrain the fold): %w", c.path(fold), err)
	}
	return &ck, nil
}

// Save writes a fold's checkpoint atomically.
func (c Checkpoints) Save(fold int, ck *train.Checkpoint) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(ck); err != nil {
		return err
	}
	return WriteFile(c.path(fold), buf.Bytes())
}

// Clear removes every checkpoint.
func (c Checkpoints) Clear() error { return os.RemoveAll(c.Dir) }

// BusyError says another process holds a trial.
type BusyError struct {
	Trial string
	PID   int
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("trial %s is being trained by another nnx run (pid %d)", e.Trial, e.PID)
}

// Lock takes a trial's lock (an flock on its .lock file, released by the
// kernel if the process dies), or returns *BusyError when another process
// holds it. Call the returned function to release it. The file stays, so
// every process locks the same inode.
func (s Store) Lock(experiment, id string) (unlock func(), err error) {
	dir := s.TrialDir(experiment, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid, _ := lockedBy(path)
			return nil, &BusyError{Trial: id, PID: pid}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}

// lockedBy reports whether a live process holds the lock file, and its pid.
func lockedBy(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0, false
	}
	b, _ := os.ReadFile(path)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, true
}

// Exclusive runs fn while holding a lock on RESULTS/<experiment>/.lock (a
// blocking flock; experiment "" locks the results directory itself): for
// the short updates that every process of a sweep makes to shared files,
// such as the best/ bundles.
func (s Store) Exclusive(experiment string, fn func() error) error {
	dir := filepath.Join(s.Dir, experiment)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return fn()
}
