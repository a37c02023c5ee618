// The runtime's backend: choosing one and reading its description (mmb_backend_info).
// The test machines have no NVIDIA driver: the CPU is the only backend there.
using System;
using System.Runtime.InteropServices;
using Moemamba;

static partial class BindingTests
{
    static MoemambaException CreateFails(Backend backend, int deviceIndex)
    {
        try { new Runtime(1, backend: backend, deviceIndex: deviceIndex).Dispose(); }
        catch (MoemambaException e) { return e; }
        return null;
    }

    static void RequireCpu(BackendInfo info, int threads)
    {
        Require(info.Backend == Backend.Cpu, "backend Cpu, got " + info);
        Require(info.NThreads == threads, "threads " + threads + ", got " + info);
        Require(info.DeviceIndex == -1, "device -1, got " + info);
        Require(info.DeviceName == "CPU", "name \"CPU\", got \"" + info.DeviceName + "\"");
        Require(info.DeviceMemoryTotal == 0 && info.DeviceMemoryUsed == 0, "no device memory, got " + info);
    }

    static void RunBackendTests()
    {
        Run("mmb_backend_info's layout is the header's", () => {
            // LP64 offsets of moemamba.h; the library accepts only its own sizeof.
            var t = typeof(BackendInfoNative);
            Require(Marshal.SizeOf(t) == 160, "size 160, got " + Marshal.SizeOf(t));
            Require((int)Marshal.OffsetOf(t, "DeviceIndex") == 12, "device_index at 12");
            Require((int)Marshal.OffsetOf(t, "DeviceName") == 16, "device_name at 16");
            Require((int)Marshal.OffsetOf(t, "DeviceMemoryTotal") == 144, "device_memory_total at 144");
            Require((int)Marshal.OffsetOf(t, "DeviceMemoryUsed") == 152, "device_memory_used at 152");
            Require(Marshal.SizeOf(typeof(RuntimeOptions)) == 128, "mmb_runtime_options is 128 bytes");
        });

        Run("a CPU runtime describes the CPU", () => {
            using (var rt = new Runtime(3, backend: Backend.Cpu))
            {
                RequireCpu(rt.BackendInfo, 3);
                int backend, threads;
                MoemambaException.Check(Native.mmb_runtime_get_backend(rt.DangerousGetHandle(), out backend, out threads));
                Require(backend == (int)Backend.Cpu && threads == 3, "mmb_runtime_get_backend agrees");
                using (var m = rt.LoadFile(s_bundle)) RequireCpu(rt.BackendInfo, 3);
            }
        });

        Run("Auto falls back to the CPU", () => {
            using (var rt = new Runtime(2)) RequireCpu(rt.BackendInfo, 2);
        });

        Run("CUDA without a driver is ErrBackend", () => {
            var e = CreateFails(Backend.Cuda, 0);
            Require(e != null, "creating a CUDA runtime must fail here");
            Require(e.Status == Native.ErrBackend && e.StatusName == "MMB_ERR_BACKEND", "status: " + e);
            Require(e.Detail.Contains("NVIDIA driver"), "the message names the driver: " + e.Detail);
        });

        Run("a negative device index is an invalid argument", () => {
            foreach (var b in new[] { Backend.Cpu, Backend.Auto, Backend.Cuda })
            {
                var e = CreateFails(b, -1);
                Require(e != null && e.Status == Native.ErrInvalidArgument, b + ": " + e);
                Require(e.Detail.Contains("device_index"), "the message names the field: " + e.Detail);
            }
        });
    }
}
