using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace MLNetSlim.Tests.Samples;

/// <summary>The result of a finished process: exit code and the two streams.</summary>
public sealed record ProcessResult(int ExitCode, string Output, string Error)
{
    /// <summary>Both streams, for assertion messages.</summary>
    public override string ToString() => $"exit code {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}

/// <summary>Runs the built samples (or documented shell commands) as child processes.</summary>
public static class SampleProcess
{
    /// <summary>The built dll of a sample project, e.g. "MLNetSlim.Samples.Consume" (recorded by the test project at build time).</summary>
    public static string SampleDll(string project)
    {
        string path = typeof(SampleProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "MLNetSlim.SamplePath." + project).Value!;
        Assert.IsTrue(File.Exists(path), $"{project} not built at {path}");
        return path;
    }

    /// <summary>The repository root: the first folder above the test assembly holding MLNetSlim.sln.</summary>
    public static string RepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MLNetSlim.sln"))) return d.FullName;
        throw new InvalidOperationException("MLNetSlim.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Runs <c>dotnet &lt;sample dll&gt; args</c> to the end.</summary>
    public static Task<ProcessResult> RunSampleAsync(string project, IEnumerable<string> args, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory };
        psi.ArgumentList.Add(SampleDll(project));
        foreach (string a in args) psi.ArgumentList.Add(a);
        return RunAsync(psi, timeout ?? TimeSpan.FromMinutes(3));
    }

    /// <summary>Runs a shell command line exactly as written, with bash, in <paramref name="workingDirectory"/>.</summary>
    public static Task<ProcessResult> RunShellAsync(string command, string workingDirectory, TimeSpan timeout) =>
        RunAsync(Shell(command, workingDirectory), timeout);

    /// <summary>A bash process for <paramref name="command"/>.</summary>
    public static ProcessStartInfo Shell(string command, string workingDirectory)
    {
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = workingDirectory };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        return psi;
    }

    /// <summary>Runs <paramref name="psi"/> to the end, capturing both streams; kills it after <paramref name="timeout"/>.</summary>
    public static async Task<ProcessResult> RunAsync(ProcessStartInfo psi, TimeSpan timeout)
    {
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(psi)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"'{psi.FileName} {string.Join(' ', psi.ArgumentList)}' did not finish within {timeout.TotalSeconds} s:\n{await output}\n{await error}");
        }
        return new ProcessResult(process.ExitCode, await output, await error);
    }

    /// <summary>Asserts exit code 1 and exactly one stderr line, "error: ..." containing every fragment, and no stack trace.</summary>
    public static void AssertOneLineError(ProcessResult result, params string[] fragments)
    {
        Assert.AreEqual(1, result.ExitCode, result.ToString());
        string[] lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.Contains("NNPACK", StringComparison.Ordinal)).ToArray(); // libtorch's harmless hardware note
        Assert.AreEqual(1, lines.Length, result.ToString());
        StringAssert.StartsWith(lines[0], "error: ", result.ToString());
        foreach (string fragment in fragments) StringAssert.Contains(lines[0], fragment, result.ToString());
        foreach (string forbidden in new[] { "   at ", "(Parameter '", "Actual value was", "Exception:" })
            Assert.IsFalse((result.Output + result.Error).Contains(forbidden, StringComparison.Ordinal), $"'{forbidden}' in the output: {result}");
    }
}
