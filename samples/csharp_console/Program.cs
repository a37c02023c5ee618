// Streams a continuation of a prompt to stdout, one piece of text per token as the
// tokens are chosen, through the C# binding (bindings/csharp).
// Usage: mono csharp_console.exe BUNDLE PROMPT [TOKENS [TEMPERATURE]]   (temperature 0 = greedy)
using System;
using System.Globalization;
using System.IO;
using System.Text;
using Moemamba;

static class Program
{
    static int Main(string[] args)
    {
        if (args.Length < 2 || args.Length > 4)
        {
            Console.Error.WriteLine("usage: csharp_console.exe BUNDLE PROMPT [TOKENS [TEMPERATURE]]");
            return 2;
        }
        int tokens = 64;
        float temperature = 0.8f;
        if ((args.Length > 2 && !int.TryParse(args[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out tokens)) ||
            (args.Length > 3 && !float.TryParse(args[3], NumberStyles.Float, CultureInfo.InvariantCulture, out temperature)))
        {
            Console.Error.WriteLine("TOKENS must be an integer and TEMPERATURE a number");
            return 2;
        }

        // UTF-8 bytes straight to stdout: the console's own encoding depends on the locale.
        using (Stream stdout = Console.OpenStandardOutput())
        {
            try
            {
                using (var runtime = new Runtime())
                using (var model = runtime.LoadFile(args[0]))
                using (var session = model.CreateSession())
                {
                    var p = Sampler.Defaults();
                    p.Temperature = temperature;
                    using (var sampler = new Sampler(p))
                    {
                        // Stream yields each piece of text (whole characters) as soon as
                        // its token is chosen; write and flush it at once.
                        foreach (string piece in session.Stream(model, sampler, args[1], tokens))
                        {
                            byte[] bytes = Encoding.UTF8.GetBytes(piece);
                            stdout.Write(bytes, 0, bytes.Length);
                            stdout.Flush();
                        }
                    }
                }
            }
            catch (MoemambaException e)
            {
                Console.Error.WriteLine("error: " + e.Message);
                return 1;
            }
            stdout.WriteByte((byte)'\n');
        }
        return 0;
    }
}
