using System.Reflection;
using System.Text.RegularExpressions;

namespace MLNetSlim.Tests.Errors;

/// <summary>
/// Reads the table in docs/errors.md: one row per bad-input case, with the exception type and a fragment of the
/// message the user sees. <see cref="ErrorCaseTests"/> has one test per row, named after the row's id; each test makes
/// the error happen and checks it against the row, so the documentation promises exactly what the code throws.
/// </summary>
internal static partial class ErrorTable
{
    public sealed record Row(string Id, string Case, string Exception, string Message);

    public static string RepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MLNetSlim.sln"))) return d.FullName;
        throw new InvalidOperationException("MLNetSlim.sln not found above " + AppContext.BaseDirectory);
    }

    public static string DocumentPath => Path.Combine(RepositoryRoot(), "docs", "errors.md");

    private static readonly Lazy<IReadOnlyDictionary<string, Row>> Rows = new(() =>
    {
        var rows = new Dictionary<string, Row>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(DocumentPath))
        {
            Match m = RowPattern().Match(line);
            if (!m.Success) continue;
            var row = new Row(m.Groups["id"].Value, m.Groups["case"].Value.Trim(), m.Groups["type"].Value, m.Groups["msg"].Value);
            if (!rows.TryAdd(row.Id, row)) throw new InvalidOperationException($"docs/errors.md lists {row.Id} twice.");
        }
        return rows;
    });

    // | E01 | case | `ExceptionType` | `message fragment` |
    [GeneratedRegex(@"^\|\s*(?<id>E\d\d)\s*\|(?<case>[^|]+)\|\s*`(?<type>[A-Za-z.]+)`\s*\|\s*`(?<msg>[^`]+)`\s*\|\s*$")]
    private static partial Regex RowPattern();

    public static IReadOnlyDictionary<string, Row> All => Rows.Value;

    /// <summary>Runs <paramref name="action"/>, which must throw exactly the row's exception type with a message
    /// containing the row's fragment.</summary>
    public static Exception Verify(string id, Action action)
    {
        Assert.IsTrue(All.TryGetValue(id, out Row? row), $"docs/errors.md has no row {id}");
        Exception? thrown = null;
        try
        {
            action();
        }
        catch (Exception e)
        {
            thrown = e;
        }
        Assert.IsNotNull(thrown, $"{id} ({row.Case}): nothing was thrown");
        Assert.AreEqual(row.Exception, thrown.GetType().Name, $"{id} ({row.Case}): {thrown}");
        StringAssert.Contains(thrown.Message, row.Message, $"{id} ({row.Case})");
        return thrown;
    }

    /// <summary>The ids of the tests in <paramref name="testClass"/> (method names start with the id and '_').</summary>
    public static IEnumerable<string> TestIds(Type testClass) =>
        testClass.GetMethods().Where(m => m.GetCustomAttribute<TestMethodAttribute>() is not null && Regex.IsMatch(m.Name, @"^E\d\d_"))
            .Select(m => m.Name[..3]);
}
