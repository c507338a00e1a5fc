// The WebApi application: built by Program.cs from the command line, and by the in-process tests around a test server.
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.ML.Data;
using MLNetSlim.Control;

namespace MLNetSlim.Samples.WebApi;

/// <summary>Builds the WebApi: the prediction pool, POST /predict, GET /health, the OpenAPI document.</summary>
public static class WebApiApp
{
    /// <summary>Builds the application and loads the model (a bad model throws here, before anything listens).</summary>
    /// <param name="modelPath">The model zip; null or empty: Model:Path from appsettings.json or the Model__Path variable.</param>
    /// <param name="urls">Addresses to listen on, or null for ASP.NET's default (or ASPNETCORE_URLS).</param>
    /// <param name="poolSize">Idle prediction engines kept; 0: Model:PoolSize, else the number of cores.</param>
    /// <param name="configure">Last changes to the builder (the tests put a test server here).</param>
    public static WebApplication Build(string? modelPath, string? urls, int poolSize, Action<WebApplicationBuilder>? configure = null)
    {
        // Content root = the app's folder, so appsettings.json is found whatever the working directory. Configuration also
        // reads environment variables (Model__Path, ASPNETCORE_URLS); the command line is parsed above, not by ASP.NET.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        if (urls is not null) builder.WebHost.UseUrls(urls);
        configure?.Invoke(builder);
        // A start-up failure (e.g. the address is in use) is reported as one error line by SampleCommandLine.Run; the host's
        // own "Hosting failed to start" log entry would add the stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);

        // The model zip: --model, else Model:Path (appsettings.json or Model__Path). A relative path is relative to the
        // folder the command was started from (the project's RunWorkingDirectory makes `dotnet run` start there too).
        modelPath = modelPath is { Length: > 0 } ? modelPath : builder.Configuration["Model:Path"];
        if (string.IsNullOrWhiteSpace(modelPath))
            throw new ArgumentException("no model given; pass --model model.zip (or set Model:Path in appsettings.json, or the Model__Path variable).");

        // One loaded model, a pool of prediction engines over its transformer; budgets and weights per row: see PredictionPool.
        poolSize = poolSize > 0 ? poolSize
            : builder.Configuration.GetValue("Model:PoolSize", 0) is > 0 and var configured ? configured : Environment.ProcessorCount;
        // The pool (disposed with the app); its MLContexts log through ILogger (category MLNetSlim.Samples.WebApi.PredictionPool).
        builder.Services.AddSingleton(services => new PredictionPool(modelPath!, poolSize, services.GetRequiredService<ILogger<PredictionPool>>()));
        builder.Services.AddHealthChecks().AddCheck<ModelHealthCheck>("model");
        builder.Services.AddOpenApi(); // the OpenAPI document at /openapi/v1.json

        var app = builder.Build();
        _ = app.Services.GetRequiredService<PredictionPool>(); // load the model now: a bad model stops the start with one error line

        app.MapOpenApi();
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = ModelHealthCheck.WriteAsync });

        // Body: the image file, either raw (any Content-Type other than multipart, e.g. image/png) or as a multipart/form-data
        // file field (any name). Query: budget ("0.5", "50%25" = 50%, "3ms", "1.2e7macs") and weights ("digit:0.8,fashion:0.2").
        app.MapPost("/predict", async (HttpRequest request, PredictionPool p, string? budget, string? weights, CancellationToken ct) =>
        {
            const long maxBytes = 10 << 20;
            try
            {
                Budget? b = budget is null ? null : Parse("budget", budget, Budget.Parse);
                IReadOnlyDictionary<string, double>? w = weights is null ? null : Parse("weights", weights, TaskPreferences.ParseTaskWeights);

                using var bytes = new MemoryStream();
                // Only multipart is a form here: curl --data-binary without -H sends a raw file labelled as url-encoded.
                if (request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true)
                {
                    IFormFile file = (await request.ReadFormAsync(ct)).Files.FirstOrDefault()
                        ?? throw new FormatException("The multipart form holds no file.");
                    if (file.Length > maxBytes) return Results.Problem("The image is larger than 10 MB.", statusCode: 413);
                    await file.CopyToAsync(bytes, ct);
                }
                else
                {
                    await request.Body.CopyToAsync(bytes, ct);
                    if (bytes.Length > maxBytes) return Results.Problem("The image is larger than 10 MB.", statusCode: 413);
                }
                if (bytes.Length == 0) throw new FormatException("The request has no image: send the file as the body or as a multipart field.");

                // A truncated or corrupt image is a 400 naming the problem, not a prediction on half an image.
                SampleFiles.CheckImage(bytes.ToArray(), "the request body");
                bytes.Position = 0;
                using MLImage image = MLImage.CreateFromStream(bytes);
                return Results.Ok(await p.PredictAsync(image, b, w, ct));
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidDataException)
            {
                // Bad budget or weights text, a budget below the cheapest configuration, an unknown task, or not an image.
                return Results.Problem(SampleCommandLine.UserMessage(e), statusCode: 400);
            }
        })
        .WithSummary("Classify one image at a compute budget and task weights chosen by this request.")
        .WithDescription("Body: the image (raw, e.g. Content-Type image/png, or a multipart/form-data file field). Query: budget " +
                         "(0.5, 50%25, 1.2e7macs, 5ms; default: the model's saved budget) and weights (digit:0.8,fashion:0.2).")
        .Accepts<IFormFile>("image/png", "image/jpeg", "application/octet-stream", "multipart/form-data")
        .Produces<PredictionResponse>()
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        return app;
    }

    // The query parameter's name in front of a parse error, like the command-line samples.
    private static T Parse<T>(string name, string text, Func<string, T> parse)
    {
        try { return parse(text); }
        catch (Exception e) when (e is FormatException or ArgumentException) { throw new FormatException($"{name}: {SampleCommandLine.UserMessage(e)}", e); }
    }
}
