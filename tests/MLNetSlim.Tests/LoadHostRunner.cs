using System.Diagnostics;
using System.Reflection;

namespace MLNetSlim.Tests;

/// <summary>Runs tests/MLNetSlim.LoadHost (built with the tests) in a fresh process.</summary>
internal static class LoadHostRunner
{
    public static (int Code, string Stdout, string Stderr) Run(CancellationToken cancellationToken, params string[] args)
    {
        string host = typeof(LoadHostRunner).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "MLNetSlim.LoadHostPath").Value!;
        Assert.IsTrue(File.Exists(host), $"Load host not built at {host}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(host);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(cancellationToken);
        Task<string> stderr = p.StandardError.ReadToEndAsync(cancellationToken);
        if (!p.WaitForExit(180_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("Load host timed out.");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
