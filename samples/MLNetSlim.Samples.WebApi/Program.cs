// MLNetSlim sample: an ASP.NET Core minimal API serving a controllable multi-task model. Every request may choose its
// own compute budget and task weights; the model picks a width configuration for them without retraining.
//
//   dotnet run --project samples/MLNetSlim.Samples.WebApi -- --model model.zip --urls http://127.0.0.1:5080
//   curl -X POST "http://127.0.0.1:5080/predict?budget=0.5&weights=digit:0.8,fashion:0.2" \
//        -H "Content-Type: image/png" --data-binary @data/images/00000.png
//   curl -X POST "http://127.0.0.1:5080/predict" -F image=@data/images/00000.png      (multipart also works)
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Samples.WebApi;

// Content root = the app's folder, so appsettings.json is found whatever the working directory.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });

// The model zip: --model <path> on the command line, or Model:Path in appsettings.json / the Model__Path variable.
string? modelPath = builder.Configuration["model"] is { Length: > 0 } fromArgs ? fromArgs : builder.Configuration["Model:Path"];
if (string.IsNullOrWhiteSpace(modelPath) || !File.Exists(modelPath))
{
    Console.Error.WriteLine(string.IsNullOrWhiteSpace(modelPath)
        ? "error: no model given; pass --model model.zip (or set Model:Path in appsettings.json, or the Model__Path variable)."
        : $"error: model file '{Path.GetFullPath(modelPath)}' does not exist; train one with MLNetSlim.Samples.Train.");
    return 1;
}

// One model copy + prediction engine per slot, one request per slot at a time: see PredictionPool for why.
int poolSize = builder.Configuration.GetValue("Model:PoolSize", 0) is > 0 and var configured ? configured : Environment.ProcessorCount;
using var pool = new PredictionPool(modelPath, poolSize);
builder.Services.AddSingleton(pool);

var app = builder.Build();

app.MapGet("/health", (PredictionPool p) => Results.Ok(new { Status = "ok", Model = p.ModelPath, p.Tasks, PoolSize = p.Size }));

// Body: the image file, either raw (any Content-Type other than multipart, e.g. image/png) or as a multipart/form-data
// file field (any name). Query: budget ("0.5", "50%25" = 50%, "3ms", "1.2e6macs") and weights ("digit:0.8,fashion:0.2").
app.MapPost("/predict", async (HttpRequest request, PredictionPool p, string? budget, string? weights, CancellationToken ct) =>
{
    const long maxBytes = 10 << 20;
    try
    {
        Budget? b = budget is null ? null : Budget.Parse(budget);
        IReadOnlyDictionary<string, double>? w = weights is null ? null : TaskPreferences.ParseTaskWeights(weights);

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
        bytes.Position = 0;

        using MLImage image = ReadImage(bytes);
        return Results.Ok(await p.PredictAsync(image, b, w, ct));
    }
    catch (Exception e) when (e is FormatException or ArgumentException)
    {
        // Bad budget or weights text, a budget below the cheapest configuration, an unknown task, or not an image.
        return Results.Problem(e.Message, statusCode: 400);
    }
});

app.Run();
return 0;

static MLImage ReadImage(Stream stream)
{
    try { return MLImage.CreateFromStream(stream); }
    catch (ArgumentException e) { throw new FormatException("The body is not an image ML.NET can read (PNG, JPEG, BMP, GIF, WebP).", e); }
}
