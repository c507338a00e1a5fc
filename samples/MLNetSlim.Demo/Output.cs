using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNetSlim.Evaluation;
using Spectre.Console;
using MLNetSlim.Control;

namespace MLNetSlim.Demo;

/// <summary>A table's content, rendered to the console (Spectre.Console) and to markdown.</summary>
public sealed record TableData(string Title, IReadOnlyList<string> Headers, IReadOnlyList<IReadOnlyList<string>> Rows, string? Caption = null)
{
    /// <summary>Spectre table; columns after the first two are right-aligned.</summary>
    public Table ToSpectre()
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]{Markup.Escape(Title)}[/]");
        for (int i = 0; i < Headers.Count; i++)
        {
            var column = new TableColumn(Markup.Escape(Headers[i]));
            if (i >= 2) column.RightAligned();
            table.AddColumn(column);
        }
        foreach (IReadOnlyList<string> row in Rows) table.AddRow(row.Select(Markup.Escape).ToArray());
        if (Caption is not null) table.Caption($"[grey]{Markup.Escape(Caption)}[/]");
        return table;
    }

    /// <summary>GitHub-flavoured markdown.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append("## ").AppendLine(Title).AppendLine();
        sb.Append("| ").AppendJoin(" | ", Headers).AppendLine(" |");
        sb.Append('|').AppendJoin("|", Headers.Select((_, i) => i >= 2 ? "---:" : "---")).AppendLine("|");
        foreach (IReadOnlyList<string> row in Rows) sb.Append("| ").AppendJoin(" | ", row.Select(c => c.Replace("|", "\\|"))).AppendLine(" |");
        if (Caption is not null) sb.AppendLine().AppendLine(Caption);
        return sb.AppendLine().ToString();
    }
}

/// <summary>Formatting of the demo's sections.</summary>
internal static class Tables
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>Million MACs, 3 significant decimals.</summary>
    public static string MMacs(long macs) => (macs / 1e6).ToString("0.000", Ci);

    /// <summary>A fraction as a percentage with 1 decimal.</summary>
    public static string Pct(double f) => (100 * f).ToString("0.0", Ci) + " %";

    /// <summary>An accuracy in [0, 1] as a percentage with 2 decimals.</summary>
    public static string Acc(double a) => (100 * a).ToString("0.00", Ci);

    /// <summary>Milliseconds with 3 decimals.</summary>
    public static string Ms(double ms) => ms.ToString("0.000", Ci);

    private static string F(double x, string format = "0.000") => x.ToString(format, Ci);

    /// <summary>Section a.</summary>
    public static TableData Configurations(IReadOnlyList<ConfigurationRow> rows, IReadOnlyList<string> tasks, int testImages) => new(
        "Configurations",
        ["name", "configuration", "MMACs", "of full", "latency ms (b=1)", .. tasks.Select(t => $"{t} acc %")],
        rows.Select(r => (IReadOnlyList<string>)[r.Name, r.Configuration, MMacs(r.Macs), Pct(r.FractionOfFull), Ms(r.LatencyMs),
            .. tasks.Select(t => Acc(r.TestAccuracy[t]))]).ToArray(),
        $"MMACs: millions of multiply-accumulates per image. Latency: median of batch-1 Predict calls on this machine. Accuracy: test set ({testImages} images).");

    /// <summary>Section b.</summary>
    public static TableData BudgetPreference(IReadOnlyList<BudgetPreferenceRow> rows, IReadOnlyList<string> tasks, int testImages) => new(
        "Budget x preference",
        ["budget", "preference", "chosen configuration", "MMACs", "of full", "latency ms (b=1)", .. tasks.Select(t => $"{t} acc %")],
        rows.Select(r => (IReadOnlyList<string>)[Pct(r.Budget), $"{r.Preference} ({string.Join("/", r.Preferences.Select(p => F(p, "0.##")))})",
            r.Configuration, MMacs(r.Macs), Pct(r.FractionOfFull), Ms(r.LatencyMs), .. tasks.Select(t => Acc(r.TestAccuracy[t]))]).ToArray(),
        $"Budget: fraction of the full network's MACs. Preferences in task order ({string.Join(", ", tasks)}). Accuracy: test set ({testImages} images).");

    /// <summary>Section c.</summary>
    public static TableData Controllability(ControllabilitySection c)
    {
        var rows = new List<IReadOnlyList<string>>();
        foreach (ControllabilityReport r in new[] { c.Comparison.Search, c.Comparison.Baseline })
        {
            foreach (BudgetControllability b in r.PerBudget)
                rows.Add([r.Controller, Pct(b.Value), F(b.BudgetAdherence), F(b.MeanBudgetUtilisation), F(b.MeanSpearman),
                    F(b.MeanUniformity), F(b.Hypervolume, "0.0000"), b.DistinctConfigurations.ToString(Ci)]);
            rows.Add([r.Controller, "mean", F(r.BudgetAdherence), F(r.MeanBudgetUtilisation), F(r.MeanSpearman),
                F(r.MeanUniformity), F(r.MeanHypervolume, "0.0000"), ""]);
        }
        return new TableData("Controllability",
            ["controller", "budget", "adherence", "utilisation", "Spearman", "uniformity", "hypervolume", "distinct configs"], rows,
            $"{c.PreferenceVectors} preference vectors ~ Dirichlet({F(c.DirichletAlpha, "0.##")}), seed {c.Seed}, same vectors for both controllers. " +
            $"Search tables: {c.SearchCalibration}. Relative performance P(c) scored on: {c.EvaluatedOn}. " +
            "Adherence: share of queries within budget; utilisation: mean MACs/budget; Spearman(p, P(c)); DYMU uniformity; hypervolume of normalised P(c).");
    }

    /// <summary>The preference sweep.</summary>
    public static TableData Sweep(IReadOnlyList<SweepRow> rows, IReadOnlyList<string> tasks, double budget) => new(
        $"Preference sweep at budget {Pct(budget)}",
        [$"p({tasks[0]})", "chosen configuration", "MMACs", .. tasks.Select(t => $"{t} acc %")],
        rows.Select(r => (IReadOnlyList<string>)[F(r.FirstTaskPreference, "0.00"), r.Configuration, MMacs(r.Macs),
            .. tasks.Select(t => Acc(r.TestAccuracy[t]))]).ToArray());

    /// <summary>Writes a table to the console.</summary>
    public static void Print(TableData table)
    {
        AnsiConsole.Write(table.ToSpectre());
        AnsiConsole.WriteLine();
    }

    /// <summary>JSON options of report.json.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };
}
