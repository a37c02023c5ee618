package moemamba

// #include <moemamba/moemamba.h>
import "C"

import (
	"strconv"
	"unsafe"
)

// ErrBackend is the status of a backend that failed or is not available (CUDA
// requested on a machine without the driver, the plugin or the device).
const ErrBackend = 6

// Backend is a compute backend (MMB_BACKEND_*).
type Backend int

const (
	BackendAuto Backend = 0 // CUDA when a device and the plugin exist, else the CPU (the default)
	BackendCPU  Backend = 1
	BackendCUDA Backend = 2
)

func (b Backend) String() string {
	switch b {
	case BackendAuto:
		return "auto"
	case BackendCPU:
		return "cpu"
	case BackendCUDA:
		return "cuda"
	}
	return "backend(" + strconv.Itoa(int(b)) + ")"
}

// WithBackend chooses the backend: BackendAuto (default) falls back to the CPU;
// BackendCUDA makes NewRuntime fail with ErrBackend when CUDA is not available.
func WithBackend(b Backend) RuntimeOption { return func(c *runtimeConfig) { c.backend = b } }

// WithDeviceIndex chooses the GPU of the CUDA backend (default 0; negative: ErrInvalidArg).
func WithDeviceIndex(index int) RuntimeOption {
	return func(c *runtimeConfig) { c.deviceIndex = index }
}

// BackendInfo is what a runtime computes on.
type BackendInfo struct {
	Backend           Backend // chosen at creation: BackendCPU or BackendCUDA, never BackendAuto
	NThreads          int     // compute threads (the CPU backend's pool; CUDA's host-side work)
	DeviceIndex       int     // the GPU's index for CUDA; -1 on the CPU
	DeviceName        string  // the GPU's name, or "CPU"
	DeviceMemoryTotal uint64  // bytes of device memory (0 on the CPU)
	DeviceMemoryUsed  uint64  // bytes this runtime's models and sessions hold on the device now (0 on the CPU)
}

// BackendInfo describes the runtime's backend: the one chosen, its threads, the device
// and its memory use (a snapshot).
func (r *Runtime) BackendInfo() (BackendInfo, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.p == nil {
		return BackendInfo{}, ErrClosed
	}
	var i C.mmb_backend_info
	i.struct_size = C.uint32_t(unsafe.Sizeof(i))
	if err := call(func() C.mmb_status { return C.mmb_runtime_get_backend_info(r.p, &i) }); err != nil {
		return BackendInfo{}, err
	}
	name := make([]byte, 0, len(i.device_name))
	for _, c := range i.device_name {
		if c == 0 {
			break
		}
		name = append(name, byte(c))
	}
	return BackendInfo{Backend: Backend(i.backend), NThreads: int(i.n_threads), DeviceIndex: int(i.device_index),
		DeviceName: string(name), DeviceMemoryTotal: uint64(i.device_memory_total),
		DeviceMemoryUsed: uint64(i.device_memory_used)}, nil
}
