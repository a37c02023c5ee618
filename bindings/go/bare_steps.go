package moemamba

// #include <moemamba/moemamba.h>
import "C"
import "time"

// bareSteps times n direct mmb_session_step calls with no locking or error mapping:
// the baseline the tests measure the wrapper against (cgo is not allowed in _test files).
func bareSteps(s *Session, n int) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		C.mmb_session_step(s.p, C.int32_t(i%256), nil, 0)
	}
	return time.Since(start)
}
