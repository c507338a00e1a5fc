using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNetSlim.Network;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Benchmarks;

/// <summary>Where and how a benchmark ran.</summary>
/// <param name="Cores">Logical processors visible to the process.</param>
/// <param name="CpuModel">"model name" from /proc/cpuinfo (or the processor architecture elsewhere).</param>
/// <param name="Os">Operating system description.</param>
/// <param name="Runtime">.NET runtime description.</param>
/// <param name="TorchThreads">Torch intra-op threads in this process.</param>
/// <param name="LoadAverage">/proc/loadavg at the start of the run (other jobs on a shared machine), or null.</param>
/// <param name="DateUtc">Start of the run, ISO 8601 UTC.</param>
/// <param name="Command">The invocation, as typed with dotnet run.</param>
public sealed record MachineInfo(int Cores, string CpuModel, string Os, string Runtime, int TorchThreads, string? LoadAverage,
    string DateUtc, string Command)
{
    /// <summary>Describes this machine and process; <paramref name="args"/> are the program's arguments.</summary>
    public static MachineInfo Current(string[] args) => new(
        Environment.ProcessorCount,
        ReadCpuModel(),
        RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription,
        get_num_threads(),
        CurrentLoadAverage(),
        DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        "dotnet run --project benchmarks/MLNetSlim.Benchmarks -c Release -- " + string.Join(' ', args.Select(Quote)));

    /// <summary>Load average now (1, 5, 15 min), or null when unknown.</summary>
    public static string? CurrentLoadAverage()
    {
        try
        {
            string[] parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return string.Join(' ', parts.Take(3));
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static string ReadCpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (string line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal))
                        return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string Quote(string a) => a.Length == 0 || a.Any(char.IsWhiteSpace) ? $"\"{a}\"" : a;

    /// <summary>The machine as Markdown lines.</summary>
    public string ToMarkdown() => new StringBuilder()
        .AppendLine($"- Date (UTC): {DateUtc}")
        .AppendLine($"- Command: `{Command}`")
        .AppendLine($"- Machine: {Cores} cores, {CpuModel}; {Os}; {Runtime}; torch threads {TorchThreads}")
        .AppendLine($"- Load average at start (1/5/15 min; the machine is shared): {LoadAverage ?? "n/a"}")
        .ToString();
}

/// <summary>Timing helpers: medians of repeated, interleaved measurements.</summary>
public static class Timing
{
    /// <summary>Median of <paramref name="values"/> (mean of the two middle values for an even count).</summary>
    public static double Median(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) return double.NaN;
        double[] s = values.Order().ToArray();
        int n = s.Length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /// <summary>The q-quantile (nearest rank) of <paramref name="values"/>.</summary>
    public static double Percentile(IReadOnlyCollection<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        double[] s = values.Order().ToArray();
        return s[Math.Clamp((int)Math.Ceiling(q * s.Length) - 1, 0, s.Length - 1)];
    }

    /// <summary>Milliseconds one call of <paramref name="action"/> takes.</summary>
    public static double Time(Action action)
    {
        long t0 = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    /// <summary>
    /// Runs every action <paramref name="warmup"/> times, then <paramref name="rounds"/> rounds in which each action is
    /// timed once, in an order that alternates between forward and backward (so slow drifts of the machine's load hit
    /// every action alike). Returns the samples per action, in ms.
    /// </summary>
    public static List<double>[] Interleaved(IReadOnlyList<Action> actions, int rounds, int warmup)
    {
        for (int w = 0; w < warmup; w++)
            foreach (Action a in actions) a();
        var samples = actions.Select(_ => new List<double>(rounds)).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < actions.Count; k++)
            {
                int i = r % 2 == 0 ? k : actions.Count - 1 - k;
                samples[i].Add(Time(actions[i]));
            }
        return samples;
    }

    /// <summary>One forward pass of <paramref name="network"/> at <paramref name="configuration"/> on <paramref name="x"/>;
    /// call it under <c>no_grad</c>. All tensors it creates are disposed.</summary>
    public static Action Forward(MultiTaskNetwork network, Tensor x, WidthConfiguration configuration) => () =>
    {
        using var scope = NewDisposeScope();
        network.forward(x, configuration).Dispose();
    };
}

/// <summary>Writes a report as JSON and Markdown.</summary>
public static class ReportFiles
{
    /// <summary>JSON settings of the reports: indented, camelCase, enums as strings, NaN allowed.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file, not HTML: keep '+' and '<' readable
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Writes <paramref name="outDir"/>/<paramref name="name"/>.json and .md; returns the two paths.</summary>
    public static (string Json, string Markdown) Write<T>(string outDir, string name, T report, string markdown)
    {
        Directory.CreateDirectory(outDir);
        string json = Path.Combine(outDir, name + ".json"), md = Path.Combine(outDir, name + ".md");
        File.WriteAllText(json, JsonSerializer.Serialize(report, Json) + "\n");
        File.WriteAllText(md, markdown);
        return (json, md);
    }

    /// <summary>Formats with invariant culture.</summary>
    public static string F(double v, string format = "0.00") =>
        double.IsNaN(v) ? "n/a" : v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>MACs in millions.</summary>
    public static string M(long macs) => (macs / 1e6).ToString("0.000", CultureInfo.InvariantCulture) + " M";
}
