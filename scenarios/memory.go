package scenarios

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// cgroupMemory reads container memory from the host's cgroup v1 files: usage − total_inactive_file, the figure
// `docker stats` shows. TODO(lead): replace with internal/memstat once it lands.
type cgroupMemory struct{}

func newContainerMemory(*Env) containerMemory { return cgroupMemory{} }

func (cgroupMemory) Memory(_ context.Context, ids []string) (float64, string, error) {
	var sum float64
	for _, id := range ids {
		dir := "/sys/fs/cgroup/memory/docker/" + id
		u, err := os.ReadFile(dir + "/memory.usage_in_bytes")
		if err != nil {
			return 0, "", err
		}
		usage, _ := strconv.ParseFloat(strings.TrimSpace(string(u)), 64)
		st, err := os.ReadFile(dir + "/memory.stat")
		if err != nil {
			return 0, "", err
		}
		var inactive float64
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "total_inactive_file "); ok {
				inactive, _ = strconv.ParseFloat(v, 64)
			}
		}
		sum += usage - inactive
	}
	return sum, fmt.Sprintf("cgroup v1 memory.usage_in_bytes − total_inactive_file, summed over %d containers", len(ids)), nil
}
