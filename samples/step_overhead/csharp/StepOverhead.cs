// Prints what the C# binding adds to a call: Session.Step and Session.Position against
// the same C functions called through bare P/Invoke on the same session, in the same
// run. Each figure is the fastest of many short interleaved blocks, so that time the
// thread spends switched out on a busy machine does not count.
// Usage: mono step_overhead.exe BUNDLE
using System;
using System.Diagnostics;
using Moemamba;

static class StepOverhead
{
    static double NsPerCall(Stopwatch sw, int n) { return sw.Elapsed.TotalMilliseconds * 1e6 / n; }

    static int Main(string[] args)
    {
        if (args.Length != 1)
        {
            Console.Error.WriteLine("usage: mono step_overhead.exe BUNDLE");
            return 2;
        }
        using (var runtime = new Runtime(1))
        using (var model = runtime.LoadFile(args[0]))
        using (var session = model.CreateSession())
        {
            IntPtr raw = session.DangerousGetHandle();
            const int block = 5, rounds = 400, reps = 100000;
            double binding = double.MaxValue, bare = double.MaxValue;
            var sw = new Stopwatch();
            for (int round = -20; round < rounds; round++) // the first rounds warm up the JIT and caches
            {
                sw.Restart();
                for (int i = 0; i < block; i++) session.Step(i * 31 % 256);
                sw.Stop();
                if (round >= 0) binding = Math.Min(binding, NsPerCall(sw, block));
                sw.Restart();
                for (int i = 0; i < block; i++)
                    if (Native.mmb_session_step(raw, i * 31 % 256, null, UIntPtr.Zero) != Native.Ok)
                        throw new Exception("step failed");
                sw.Stop();
                if (round >= 0) bare = Math.Min(bare, NsPerCall(sw, block));
            }
            Console.WriteLine("csharp step (logits NULL, 1 thread): binding {0:F3} us/call, bare P/Invoke {1:F3} us/call, overhead {2:+0.000;-0.000} us/call",
                              binding / 1e3, bare / 1e3, (binding - bare) / 1e3);

            double pBinding = double.MaxValue, pBare = double.MaxValue;
            ulong sink = 0, position;
            for (int round = -1; round < 10; round++)
            {
                sw.Restart();
                for (int i = 0; i < reps; i++) sink += session.Position;
                sw.Stop();
                if (round >= 0) pBinding = Math.Min(pBinding, NsPerCall(sw, reps));
                sw.Restart();
                for (int i = 0; i < reps; i++) { Native.mmb_session_get_position(raw, out position); sink += position; }
                sw.Stop();
                if (round >= 0) pBare = Math.Min(pBare, NsPerCall(sw, reps));
            }
            Console.WriteLine("csharp position: binding {0:F1} ns/call, bare P/Invoke {1:F1} ns/call{2}", pBinding, pBare,
                              sink == 1 ? " " : "");
        }
        return 0;
    }
}
