using System.Text;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Training;
using Spectre.Console;
using static MLNetSlim.Benchmarks.ReportFiles;
using static TorchSharp.torch;

namespace MLNetSlim.Benchmarks;

/// <summary>One decoder width set of the calibration benchmark.</summary>
/// <param name="Name">Short name.</param>
/// <param name="DecoderWidths">The decoder multipliers (encoder: 0.25, 0.5, 0.75, 1).</param>
/// <param name="DecoderContexts">Batch-norm contexts per decoder layer: #encoder options x #decoder widths.</param>
/// <param name="CalibrationPasses">Per-factor calibration passes: #encoder options x #decoder widths.</param>
/// <param name="PostStatisticsMs">Median wall time of the batch-norm post-statistics on the images, ms.</param>
/// <param name="CalibrationMs">Median wall time of the calibration table on the images, ms.</param>
/// <param name="MaximalDecoderPairs">Per budget (fraction of full MACs) and encoder option: the number of decoder-width
/// pairs within the budget where neither decoder can widen (-1: the encoder option alone does not fit).</param>
internal sealed record CalibrationSetResult(string Name, IReadOnlyList<double> DecoderWidths, int DecoderContexts, long CalibrationPasses,
    double PostStatisticsMs, double CalibrationMs, IReadOnlyDictionary<string, int[]> MaximalDecoderPairs);

/// <summary>The calibration benchmark's report.</summary>
internal sealed record CalibrationReport(MachineInfo Machine, int Images, int Rounds, IReadOnlyList<CalibrationSetResult> Sets);

/// <summary>`calibration`: what a decoder width set finer than the encoder's costs after training (batch-norm
/// post-statistics and the per-factor calibration table, timed interleaved on the main job's network shape) and what it
/// buys (budget-filling decoder pairs per budget, counted from the exact cost table). Weights do not change the cost,
/// so the network is untrained.</summary>
public static class CalibrationCommand
{
    private static readonly double[] Budgets = [0.3, 0.5, 0.7];

    /// <summary>Runs the benchmark, prints it, writes calibration.json and calibration.md to <paramref name="outDir"/>.</summary>
    public static int Run(string[] args, int images, int rounds, string outDir)
    {
        MachineInfo machine = MachineInfo.Current(args);
        var sets = new (string Name, double[]? Widths)[]
        {
            ("same as encoder (4)", null),
            ("0.125..1 step 1/8 (8)", Enumerable.Range(0, 8).Select(i => 0.125 + i / 8.0).ToArray()),
            ("0.25..1 step 1/16 (13)", Enumerable.Range(0, 13).Select(i => 0.25 + i / 16.0).ToArray()),
            ("0.125..1 step 1/16 (15)", Enumerable.Range(0, 15).Select(i => 0.125 + i / 16.0).ToArray()),
            ("0.125..1 step 1/24 (22)", Enumerable.Range(0, 22).Select(i => 0.125 + i / 24.0).ToArray()),
            ("0.125..1 step 1/32 (29)", Enumerable.Range(0, 29).Select(i => 0.125 + i / 32.0).ToArray()),
        };
        TaskDefinition[] tasks = [new("digit", TaskKind.Classification, 10), new("fashion", TaskKind.Classification, 10)];
        var rng = new Random(1);
        float[] pixels = Enumerable.Range(0, images * 784).Select(_ => (float)rng.NextDouble()).ToArray();
        int[][] labels = tasks.Select(_ => Enumerable.Range(0, images).Select(_ => rng.Next(10)).ToArray()).ToArray();
        var data = new MultiTaskDataset(pixels, 1, 28, 28, tasks, labels);
        MultiTaskNetwork[] networks = sets.Select(s => SupernetTrainer.CreateNetwork(new NetworkOptions
        {
            Tasks = tasks, Channels = 1, Height = 28, Width = 28, DecoderWidths = s.Widths,
        }, seed: 1)).ToArray();
        try
        {
            var actions = new List<Action>();
            foreach (MultiTaskNetwork n in networks)
            {
                actions.Add(() => BatchNormPostStatistics.Compute(n, data, images, 256, CPU));
                actions.Add(() => ModelTrainer.Calibrate(n, data));
            }
            AnsiConsole.MarkupLine($"[grey]calibration: {sets.Length} decoder width sets, {images} images, {rounds} interleaved rounds ...[/]");
            List<double>[] samples = Timing.Interleaved(actions, rounds, warmup: 1);
            var results = new List<CalibrationSetResult>();
            for (int i = 0; i < sets.Length; i++)
            {
                CostTable c = networks[i].CostTable;
                var pairs = Budgets.ToDictionary(b => b.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    b => Enumerable.Range(0, c.EncoderOptionCount).Select(e => MaximalPairs(c, e, b)).ToArray());
                results.Add(new CalibrationSetResult(sets[i].Name, c.DecoderWidths.Multipliers, c.EncoderOptionCount * c.DecoderWidths.Count,
                    CalibrationTable.PassCount(c), Median(samples[2 * i]), Median(samples[2 * i + 1]), pairs));
            }
            var report = new CalibrationReport(machine, images, rounds, results);

            var table = new Table().AddColumns("decoder widths", "BN contexts / decoder layer", "calibration passes", "post-statistics ms", "calibration ms",
                "maximal decoder pairs at 30 / 50 / 70 % (encoder 0.25, 0.5, 0.75, 1)");
            foreach (CalibrationSetResult r in results)
                table.AddRow(Markup.Escape(r.Name), r.DecoderContexts.ToString(), r.CalibrationPasses.ToString(), F(r.PostStatisticsMs, "0"), F(r.CalibrationMs, "0"),
                    Markup.Escape(PairsText(r)));
            AnsiConsole.Write(table);

            var md = new StringBuilder()
                .AppendLine("# Calibration benchmark (what a finer decoder width set costs and buys)")
                .AppendLine()
                .Append(machine.ToMarkdown())
                .AppendLine()
                .AppendLine($"The main job's network shape (small conv net, 2 tasks of 10 classes, 28x28, encoder widths 0.25, 0.5, 0.75, 1), untrained (weights do not change the cost), on {images} random images; median of {rounds} interleaved rounds after one warm-up. Post-statistics: `BatchNormPostStatistics.Compute` (every encoder option and decoder width); calibration: `ModelTrainer.Calibrate` (the per-factor table: one encoder pass per option and batch, every decoder at every width). Both are linear in the images: the main job runs post-statistics on `TrainingOptions.PostStatisticsImages` training images and the calibration on its 6000 held-out images. Maximal decoder pairs: decoder-width pairs within the budget where neither decoder can widen (the only pairs stage 2 can choose; docs/control.md, section 5), per encoder option 0.25 / 0.5 / 0.75 / 1, from the exact cost table; '-' = the encoder alone does not fit.")
                .AppendLine()
                .AppendLine("| decoder widths | BN contexts per decoder layer | calibration passes | post-statistics | calibration | maximal decoder pairs at 30 % / 50 % / 70 % |")
                .AppendLine("|---|---:|---:|---:|---:|---|");
            foreach (CalibrationSetResult r in results)
                md.AppendLine($"| {r.Name} | {r.DecoderContexts} | {r.CalibrationPasses} | {F(r.PostStatisticsMs / 1000, "0.0")} s | {F(r.CalibrationMs / 1000, "0.0")} s | {PairsText(r)} |");
            (string json, string mdPath) = Write(outDir, "calibration", report, md.ToString());
            AnsiConsole.MarkupLineInterpolated($"Wrote {json} and {mdPath}.");
            return 0;
        }
        finally
        {
            foreach (MultiTaskNetwork n in networks) n.Dispose();
        }
    }

    private static string PairsText(CalibrationSetResult r) =>
        string.Join(" / ", r.MaximalDecoderPairs.Values.Select(v => string.Join(",", v.Select(x => x < 0 ? "-" : x.ToString(System.Globalization.CultureInfo.InvariantCulture)))));

    /// <summary>Two tasks: the decoder-width pairs within <paramref name="budget"/> x full MACs at encoder option
    /// <paramref name="e"/> that no other feasible pair dominates (both widths at least as large); -1 when none fits.</summary>
    internal static int MaximalPairs(CostTable c, int e, double budget)
    {
        if (c.TaskCount != 2) throw new ArgumentException("Counted for two tasks.", nameof(c));
        double capacity = budget * c.FullMacs;
        int w = c.DecoderWidths.Count, count = 0;
        bool Fits(int a, int b) => c.EncoderMacs(e) + c.DecoderMacs(0, e, a) + c.DecoderMacs(1, e, b) <= capacity;
        if (!Fits(0, 0)) return -1;
        for (int a = 0; a < w; a++)
            for (int b = 0; b < w; b++)
                if (Fits(a, b) && (a == w - 1 || !Fits(a + 1, b)) && (b == w - 1 || !Fits(a, b + 1))) count++;
        return count;
    }

    private static double Median(List<double> xs)
    {
        double[] s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
