package examples

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// SECURITY.md proves each defence by naming its tests: a renamed or deleted
// test must not leave a claim without its proof.
func TestEveryTestSecurityMdNamesExists(t *testing.T) {
	doc, err := os.ReadFile("../SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]+)`").FindAllSubmatch(doc, -1)
	if len(names) < 20 {
		t.Fatalf("SECURITY.md names %d tests; the pattern no longer finds them", len(names))
	}
	for _, m := range names {
		name := string(m[1])
		out, err := exec.Command("git", "-C", "..", "grep", "--untracked", "-l", "func "+name+"(", "--", "*_test.go").Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			t.Errorf("SECURITY.md names %s, which no test file defines", name)
		}
	}
}
