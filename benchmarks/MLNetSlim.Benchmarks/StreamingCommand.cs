using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.Fixtures;
using MLNetSlim.MLNet;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;

namespace MLNetSlim.Benchmarks;

/// <summary>Settings of the streaming benchmark.</summary>
public sealed record StreamingSettings(int LargeRows, int SmallRows, int Size, int BatchSize, int ThroughputRows, string? Data, string OutDir,
    int Seed, string? Part, int PartRows, int Rounds = 5);

/// <summary>One streamed training run in its own process. Peaks are sampled every 100 ms: the managed heap as
/// GC.GetTotalMemory (live and not yet collected objects), the GC's committed memory, glibc malloc's bytes in use and
/// held (mallinfo2: libtorch's tensors and everything else native), TorchSharp's live tensor count; gen-2 collections
/// over the run; VmHWM (peak RSS) from /proc/self/status at the end.</summary>
public sealed record StreamingRun(int Rows, int Channels, int Height, int Width, int BatchSize, double Seconds, double ImagesPerSecond,
    double PeakRssMb, double PeakManagedHeapMb, double MaterialisedMb, double PeakGcCommittedMb = 0, double PeakNativeInUseMb = 0,
    double PeakNativeHeldMb = 0, long PeakLiveTensors = 0, int Gen2Collections = 0, int ShuffleBufferRows = 0);

/// <summary>The streaming report (docs/benchmarks/streaming.json).</summary>
public sealed record StreamingReport(MachineInfo Machine, string Backbone, StreamingRun Large, StreamingRun Small,
    [property: System.Text.Json.Serialization.JsonPropertyName("peak_rss_mb")] double PeakRssMb,
    [property: System.Text.Json.Serialization.JsonPropertyName("rss_growth_15k_over_1k5")] double RssGrowth,
    double InMemoryImagesPerSecond, double StreamingImagesPerSecond, int ThroughputRows,
    [property: System.Text.Json.Serialization.JsonPropertyName("streaming_over_inmemory")] double StreamingOverInMemory,
    int ThroughputRounds, IReadOnlyList<double> InMemoryRounds, IReadOnlyList<double> StreamingRounds, IReadOnlyList<double> RatioRounds,
    IReadOnlyList<string> Load);

/// <summary>
/// Bounded memory of streaming training (issue 10): one epoch of the estimator's Fit on a lazily generated IDataView of
/// 3xSxS float images (nothing materialised) at two row counts, each in a fresh process so that the peak RSS (VmHWM) is
/// that run's; and the training throughput of streaming vs in-memory on Multi-(Fashion+MNIST).
/// </summary>
public static class StreamingCommand
{
    /// <summary>The small ResNet used here: stem 8 channels, stages [8, 16, 32] of one residual block each, widths
    /// {0.5, 1}; the 224x224 input is what costs.</summary>
    public static BackboneOptions SmallResNet() => new() { Kind = BackboneKind.ResNet, StemChannels = 8, StageChannels = [8, 16, 32], StageDepths = [1, 1, 1] };

    public static int Run(string[] args, StreamingSettings s)
    {
        if (s.Part == "lazy")
        {
            StreamingRun run = Lazy(s.PartRows, s.Size, s.BatchSize, s.Seed);
            Console.WriteLine("RESULT " + JsonSerializer.Serialize(run));
            return 0;
        }
        MachineInfo machine = MachineInfo.Current(args);
        var load = new List<string>();
        void Load(string when) => load.Add($"{DateTime.UtcNow:HH:mm:ss}Z {when}: {MachineInfo.CurrentLoadAverage()}");
        Load("start");
        StreamingRun small = Child(s, s.SmallRows);
        Load($"after the {s.SmallRows:N0}-row run");
        Throughputs t = Throughput(s); // before the long run, so that a run cut short still printed it
        Load("after the throughput rounds");
        Console.WriteLine($"[throughput] medians: in memory {Median(t.InMemory):0.0}, streamed {Median(t.Streaming):0.0} images/s; streaming_over_inmemory {Median(t.Ratios):0.000} (rounds {string.Join(", ", t.Ratios.Select(x => x.ToString("0.000", CultureInfo.InvariantCulture)))})");
        StreamingRun large = s.LargeRows == s.SmallRows ? small : Child(s, s.LargeRows);
        Load($"end (after the {s.LargeRows:N0}-row run)");
        double inMemory = Median(t.InMemory), streaming = Median(t.Streaming);
        var report = new StreamingReport(machine, "ResNet stem 8, stages [8, 16, 32] x 1 block, widths {0.5, 1}", large, small, large.PeakRssMb,
            large.PeakRssMb / small.PeakRssMb, inMemory, streaming, s.ThroughputRows, Median(t.Ratios), s.Rounds, t.InMemory, t.Streaming, t.Ratios, load);
        var ci = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("# Streaming training: bounded memory").AppendLine();
        md.AppendLine(ci, $"Command: `{machine.Command}`  ").AppendLine(ci, $"Machine: {machine.Cores} cores, {machine.CpuModel}, {machine.Os}; load average at start {machine.LoadAverage}; {machine.DateUtc}.").AppendLine();
        md.AppendLine("One epoch of `Fit` (built-in trainer, `InMemoryCacheLimitMB = 0`: streamed from IDataView cursors, shuffle buffer " +
                      "and 2 prefetched batches) on a lazily generated IDataView of 3xSxS float images (`LazyImageDataView`: nothing stored), " +
                      $"small ResNet ({report.Backbone}), batch {s.BatchSize}, 32 validation rows, 64 post-statistics images. Each run is a fresh process; " +
                      "peak RSS is the kernel's VmHWM, the managed heap peak is sampled every 100 ms (including garbage not yet collected). " +
                      "Why this ResNet: memory, not accuracy, is what this run measures, and what grows with the row count is the data " +
                      "(3x224x224 floats per row), not the network; the ResNet backbone's structure (stem, residual stages, per-context " +
                      "batch norm, slimmable widths) at 224x224 input is kept, its base width is reduced (stem 8, stages [8, 16, 32], " +
                      "one block each, the smallest width set {0.5, 1}, sandwich = full + smallest + 1 random configuration) so that " +
                      "the 15,000-row epoch takes about 20 minutes or less on an idle 2-core machine. The default ResNet (stages of 64-512 channels) " +
                      "ran at 0.3-0.5 images/s at 224x224 here, which would make one such epoch take 8-14 hours.").AppendLine();
        md.AppendLine("| rows | image | materialised | seconds | images/s | peak RSS | peak managed heap | peak GC committed | peak malloc in use / held | peak live tensors | gen-2 GCs | shuffle buffer |")
            .AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (StreamingRun r in new[] { small, large }.Distinct())
            md.AppendLine(ci, $"| {r.Rows:N0} | {r.Channels}x{r.Height}x{r.Width} | {r.MaterialisedMb:N0} MB | {r.Seconds:0.0} | {r.ImagesPerSecond:0.0} | {r.PeakRssMb:N0} MB | {r.PeakManagedHeapMb:N0} MB | " +
                              $"{r.PeakGcCommittedMb:N0} MB | {r.PeakNativeInUseMb:N0} / {r.PeakNativeHeldMb:N0} MB | {r.PeakLiveTensors:N0} | {r.Gen2Collections} | {r.ShuffleBufferRows} rows ({r.ShuffleBufferRows * (double)r.Channels * r.Height * r.Width * sizeof(float) / (1 << 20):N0} MB) |");
        md.AppendLine().AppendLine(ci, $"peak_rss_mb = {report.PeakRssMb:0}; rss_growth_15k_over_1k5 = {report.RssGrowth:0.000} (rows {large.Rows:N0} over {small.Rows:N0}).").AppendLine();
        md.AppendLine(ci, $"Throughput on Multi-(Fashion+MNIST) ({s.ThroughputRows:N0} training images, SmallConvNet, 1 epoch, batch 128, no hold-out): one warm-up fit, then {s.Rounds} interleaved rounds " +
                          $"(in memory, streamed, alternating which goes first), medians: in memory {inMemory:0.0} images/s, streamed {streaming:0.0} images/s; " +
                          $"streaming_over_inmemory = {report.StreamingOverInMemory:0.000} (median of the per-round ratios: {string.Join(", ", t.Ratios.Select(x => x.ToString("0.000", ci)))}).").AppendLine();
        md.AppendLine("Load average (1, 5, 15 min) during the run: " + string.Join("; ", load) + ".");
        (string json, string mdPath) = ReportFiles.Write(s.OutDir, "streaming", report, md.ToString());
        Console.WriteLine(md.ToString());
        Console.WriteLine($"wrote {json} and {mdPath}");
        return 0;
    }

    private static StreamingRun Child(StreamingSettings s, int rows)
    {
        string dll = typeof(StreamingCommand).Assembly.Location;
        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { dll, "streaming", "--part", "lazy", "--part-rows", rows.ToString(CultureInfo.InvariantCulture),
                     "--size", s.Size.ToString(CultureInfo.InvariantCulture), "--batch-size", s.BatchSize.ToString(CultureInfo.InvariantCulture),
                     "--seed", s.Seed.ToString(CultureInfo.InvariantCulture), "--threads", TorchSharp.torch.get_num_threads().ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        Console.WriteLine($"[streaming] {rows:N0} rows of 3x{s.Size}x{s.Size} in a child process ...");
        using Process p = Process.Start(psi)!;
        string? result = null;
        while (p.StandardOutput.ReadLine() is string line)
        {
            if (line.StartsWith("RESULT ", StringComparison.Ordinal)) result = line[7..];
            else Console.WriteLine("  " + line);
        }
        p.WaitForExit();
        if (p.ExitCode != 0 || result is null) throw new InvalidOperationException($"The {rows}-row child run failed (exit code {p.ExitCode}).");
        return JsonSerializer.Deserialize<StreamingRun>(result)!;
    }

    private static StreamingRun Lazy(int rows, int size, int batchSize, int seed)
    {
        var ml = new MLContext(seed);
        var o = new ControllableMultiTaskEstimator.Options
        {
            Tasks = { new(LazyImageDataView.TaskName(0)), new(LazyImageDataView.TaskName(1)) },
            ImageChannels = 3,
            ImageHeight = size,
            ImageWidth = size,
            Backbone = MultiTaskBackbone.ResNet,
            BackboneOverride = SmallResNet(),
            Widths = [0.5, 1.0],
            Epochs = 1,
            BatchSize = batchSize,
            Seed = seed,
            InMemoryCacheLimitMB = 0,
            ValidationData = new LazyImageDataView(32, 3, size, size),
            PostStatisticsImages = 64,
            ProgressEverySteps = 50,
        };
        double images = 0;
        o.Progress = new Sink(p =>
        {
            // The memory so far on every progress line: a long run shows whether it stays flat before it ends.
            Console.WriteLine($"[{rows}] {p} | {DateTime.UtcNow:HH:mm:ss}Z RSS {RssMb("VmRSS:"):N0} MB, peak {RssMb("VmHWM:"):N0} MB, managed {GC.GetTotalMemory(false) >> 20:N0} MB, load {MachineInfo.CurrentLoadAverage()}");
            if (p.IsEpochEnd) images = p.ImagesPerSecond;
        });
        int gen2 = GC.CollectionCount(2);
        using var memory = new MemorySampler();
        var clock = Stopwatch.StartNew();
        ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(rows, 3, size, size));
        double seconds = clock.Elapsed.TotalSeconds;
        memory.Sample();
        return new StreamingRun(rows, 3, size, size, batchSize, seconds, images, PeakRssMb(), memory.PeakManagedMb,
            (double)rows * 3 * size * size * sizeof(float) / (1 << 20), memory.PeakCommittedMb, memory.PeakNativeInUseMb, memory.PeakNativeHeldMb,
            memory.PeakLiveTensors, GC.CollectionCount(2) - gen2, o.EffectiveShuffleBufferRows(rows, 3L * size * size * sizeof(float) + 2 * sizeof(int)));
    }

    private sealed record Throughputs(List<double> InMemory, List<double> Streaming, List<double> Ratios);

    private static Throughputs Throughput(StreamingSettings s)
    {
        MultiTaskDataset data = MultiFashionMnist.Load(DataSplit.Train, s.ThroughputRows, s.Seed, s.Data, s.Data);
        double Train(int limitMb)
        {
            var ml = new MLContext(s.Seed);
            var o = new ControllableMultiTaskEstimator.Options
            {
                ImageChannels = data.Channels,
                ImageHeight = data.Height,
                ImageWidth = data.Width,
                Epochs = 1,
                Seed = s.Seed,
                ValidationFraction = 0,
                InMemoryCacheLimitMB = limitMb,
                PostStatisticsImages = 256,
            };
            foreach (var t in data.Tasks) o.Tasks.Add(new(t.Name));
            double ips = 0;
            o.Progress = new Sink(p => { if (p.IsEpochEnd) ips = p.ImagesPerSecond; });
            ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(data));
            Console.WriteLine($"[throughput] {(limitMb == 0 ? "streamed" : "in memory")}: {ips:0.0} images/s (load {MachineInfo.CurrentLoadAverage()})");
            return ips;
        }
        Train(1024); // warm-up (JIT, allocator)
        // Interleaved rounds, alternating which goes first, so that a change of machine load hits both alike; medians.
        var result = new Throughputs([], [], []);
        for (int round = 0; round < s.Rounds; round++)
        {
            double inMemory, streaming;
            if (round % 2 == 0) { inMemory = Train(1024); streaming = Train(0); }
            else { streaming = Train(0); inMemory = Train(1024); }
            result.InMemory.Add(inMemory);
            result.Streaming.Add(streaming);
            result.Ratios.Add(streaming / inMemory);
        }
        return result;
    }

    private static double Median(List<double> values)
    {
        double[] v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>VmHWM of this process in MB (peak resident set).</summary>
    private static double PeakRssMb() => RssMb("VmHWM:");

    /// <summary>A /proc/self/status memory line (VmHWM: peak resident set, VmRSS: now) in MB.</summary>
    private static double RssMb(string field)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field, StringComparison.Ordinal))
                return double.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024;
        return Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024);
    }

    private sealed class Sink(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }

    /// <summary>Samples every 100 ms (no forced collection): the managed heap (GC.GetTotalMemory, including garbage
    /// not yet collected), the GC's committed bytes, glibc malloc's bytes in use and held (mallinfo2; 0 where it is
    /// missing) and TorchSharp's live tensor count; keeps the peaks.</summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly Timer _timer;
        private readonly object _gate = new();
        private bool _noMallinfo;

        public MemorySampler() => _timer = new Timer(_ => Sample(), null, 0, 100);

        public double PeakManagedMb { get; private set; }

        public double PeakCommittedMb { get; private set; }

        public double PeakNativeInUseMb { get; private set; }

        public double PeakNativeHeldMb { get; private set; }

        public long PeakLiveTensors { get; private set; }

        public void Sample()
        {
            lock (_gate)
            {
                const double Mb = 1 << 20;
                PeakManagedMb = Math.Max(PeakManagedMb, GC.GetTotalMemory(false) / Mb);
                PeakCommittedMb = Math.Max(PeakCommittedMb, GC.GetGCMemoryInfo().TotalCommittedBytes / Mb);
                PeakLiveTensors = Math.Max(PeakLiveTensors, TorchSharp.torch.Tensor.TotalCount);
                if (_noMallinfo) return;
                try
                {
                    MallInfo2 m = mallinfo2();
                    PeakNativeInUseMb = Math.Max(PeakNativeInUseMb, (m.Uordblks + m.Hblkhd) / Mb);
                    PeakNativeHeldMb = Math.Max(PeakNativeHeldMb, (m.Arena + m.Hblkhd) / Mb);
                }
                catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
                {
                    _noMallinfo = true;
                }
            }
        }

        public void Dispose() => _timer.Dispose();

        /// <summary>glibc's struct mallinfo2 (all size_t): arena = bytes of the heaps (all arenas), hblkhd = bytes in
        /// mmapped blocks, uordblks = bytes in use in the heaps.</summary>
        [StructLayout(LayoutKind.Sequential)]
        private struct MallInfo2
        {
            public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
        }

        [DllImport("libc", EntryPoint = "mallinfo2")]
        private static extern MallInfo2 mallinfo2();
    }
}
