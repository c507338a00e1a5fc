using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Reflection;

namespace MLNetSlim.Samples;

/// <summary>
/// The samples' command-line boundary (compiled into each sample): System.CommandLine options whose parse errors name
/// the option, unknown options and stray arguments rejected with a suggestion, and every failure reported as ONE
/// <c>error: ...</c> line on stderr with exit code 1, never a stack trace (set <c>MLNETSLIM_SAMPLES_TRACE=1</c> to also
/// print the exception).
/// </summary>
internal static class SampleCommandLine
{
    /// <summary>An int option with a default and a minimum; "abc" or "0" give an error naming the option.</summary>
    public static Option<int> Integer(string name, string description, int defaultValue, int minimum)
    {
        var option = new Option<int>(name) { Description = $"{description} (default {defaultValue})", DefaultValueFactory = _ => defaultValue };
        option.CustomParser = result =>
        {
            string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
            {
                result.AddError($"{name} must be a whole number, got '{text}'.");
                return defaultValue;
            }
            if (value < minimum) result.AddError($"{name} must be at least {minimum}, got {value}.");
            return value;
        };
        return option;
    }

    /// <summary>A text option.</summary>
    public static Option<string?> Text(string name, string description, bool required = false) =>
        new(name) { Description = description, Required = required };

    /// <summary>An option whose text <paramref name="parse"/> turns into a value; its errors are prefixed with the option name.</summary>
    public static Option<T?> Parsed<T>(string name, string description, Func<string, T> parse) where T : class
    {
        var option = new Option<T?>(name) { Description = description };
        option.CustomParser = result =>
        {
            string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
            try
            {
                return parse(text);
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                result.AddError($"{name}: {UserMessage(e)}");
                return null;
            }
        };
        return option;
    }

    /// <summary>
    /// Parses <paramref name="args"/>; --help prints the help; a parse error prints one <c>error:</c> line. Otherwise runs
    /// <paramref name="action"/> and turns any exception into one <c>error:</c> line. Returns the exit code (0 or 1).
    /// </summary>
    public static int Run(RootCommand root, string[] args, Func<ParseResult, int> action)
    {
        ParseResult parse = root.Parse(args);
        if (parse.Action is HelpAction) return parse.Invoke();
        if (parse.Errors.Count > 0) return Fail(ParseErrorMessage(parse, root));
        if (parse.Action is not null) return parse.Invoke(); // --version and the like
        try
        {
            return action(parse);
        }
        catch (Exception e)
        {
            if (Environment.GetEnvironmentVariable("MLNETSLIM_SAMPLES_TRACE") == "1") Console.Error.WriteLine(e);
            return Fail(UserMessage(e));
        }
    }

    /// <summary>Writes <c>error: message</c> (one line) to stderr and returns 1.</summary>
    public static int Fail(string message)
    {
        Console.Error.WriteLine("error: " + OneLine(message));
        return 1;
    }

    /// <summary>
    /// The message of <paramref name="e"/> for a person: the innermost meaningful exception's message on one line,
    /// without .NET's <c>(Parameter '...')</c> and <c>Actual value was ...</c> suffixes.
    /// </summary>
    public static string UserMessage(Exception e)
    {
        while (e is TargetInvocationException or AggregateException && e.InnerException is not null) e = e.InnerException;
        // The library states budgets exactly (0.063807...); a person gets them rounded, the smallest feasible one rounded UP
        // so that typing it back works.
        if (e is MLNetSlim.Control.BudgetInfeasibleException infeasible)
            return $"budget {SampleControl.Describe(infeasible.Requested)} is below the cheapest configuration; the smallest " +
                   $"feasible budget is {SampleControl.DescribeRoundedUp(infeasible.SmallestFeasible)}.";
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } parameter })
            message = message.Replace($" (Parameter '{parameter}')", "", StringComparison.Ordinal);
        int newline = message.IndexOf('\n', StringComparison.Ordinal);
        if (e is ArgumentOutOfRangeException && newline >= 0) message = message[..newline]; // "Actual value was ..."
        return OneLine(message);
    }

    /// <summary>Parse errors as one line: unknown options get the closest known option, stray words a hint.</summary>
    private static string ParseErrorMessage(ParseResult parse, RootCommand root)
    {
        string[] known = root.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith('-')).Distinct().ToArray();
        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            if (token.StartsWith('-'))
            {
                string? closest = known.Select(k => (Name: k, Distance: Distance(token, k)))
                    .Where(k => k.Distance <= Math.Max(2, token.Length / 3)).OrderBy(k => k.Distance).Select(k => k.Name).FirstOrDefault();
                return $"unknown option '{token}'" + (closest is null ? "" : $"; did you mean {closest}?") + " (--help lists the options)";
            }
            int index = Array.IndexOf(parse.Tokens.Select(t => t.Value).ToArray(), token);
            string previous = index > 0 ? parse.Tokens[index - 1].Value : "";
            if (previous.EndsWith(',') && (token.Contains('=') || token.Contains(':')))
                return $"unexpected argument '{token}': write the list without spaces, e.g. {previous}{token}";
            return $"unexpected argument '{token}' (every value belongs to an option; --help lists them)";
        }
        string error = parse.Errors[0].Message;
        // System.CommandLine's own wording for a missing option, in the samples' terms.
        if (error.StartsWith("Option '", StringComparison.Ordinal) && error.EndsWith("' is required.", StringComparison.Ordinal))
            return $"missing option {error[8..^14]} (--help lists the options)";
        return error;
    }

    private static string OneLine(string text) =>
        string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Levenshtein distance, case-insensitive.</summary>
    private static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
