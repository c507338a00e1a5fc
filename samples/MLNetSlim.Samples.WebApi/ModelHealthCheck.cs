using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MLNetSlim.Samples.WebApi;

/// <summary>ASP.NET health check: healthy once the model is loaded; reports the model, its input kind, tasks and pool size.</summary>
public sealed class ModelHealthCheck(PredictionPool pool) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(HealthCheckResult.Healthy("model loaded", new Dictionary<string, object>
        {
            ["model"] = pool.ModelPath,
            ["input"] = pool.InputKind,
            ["tasks"] = pool.Tasks,
            ["poolSize"] = pool.Size,
        }));

    /// <summary>GET /health as JSON: <c>{"status":"Healthy","model":...,"input":"image","tasks":[...],"poolSize":N}</c>.</summary>
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        var body = new Dictionary<string, object?> { ["status"] = report.Status.ToString() };
        foreach (HealthReportEntry entry in report.Entries.Values)
            foreach ((string key, object value) in entry.Data) body[key] = value;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(body), context.RequestAborted);
    }
}
