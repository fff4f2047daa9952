// Package evaldata locates the shared evaluation data (LFW pairs, NUAA,
// videos, ID specimens) for tests, evaluations and benchmarks. The data is
// never copied into the repository; it is read where it lies.
package evaldata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the evaluation data directory: $EVERIFY_EVAL_DATA, else the
// first ../shared/data found walking up from the working directory. It
// returns "" when neither exists.
func Dir() string {
	if d := os.Getenv("EVERIFY_EVAL_DATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "..", "shared", "data")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return filepath.Clean(cand)
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// Require returns the path of rel inside the evaluation data. When the data
// is missing the test fails under CI=true and is skipped otherwise, so that a
// CI run can never pass by silently skipping.
func Require(tb testing.TB, rel string) string {
	tb.Helper()
	d := Dir()
	p := filepath.Join(d, rel)
	if d != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("evaluation data %q not found (set EVERIFY_EVAL_DATA)", rel)
	}
	tb.Skipf("evaluation data %q not found (set EVERIFY_EVAL_DATA)", rel)
	return ""
}
