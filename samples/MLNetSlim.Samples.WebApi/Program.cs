// MLNetSlim sample: an ASP.NET Core minimal API serving a controllable multi-task model. Every request may choose its
// own compute budget and task weights; the model picks a width configuration for them without retraining.
//
//   dotnet run --project samples/MLNetSlim.Samples.WebApi -c Release -- --model model.zip --urls http://127.0.0.1:5080
//   curl -X POST "http://127.0.0.1:5080/predict?budget=0.5&weights=digit:0.8,fashion:0.2" \
//        -H "Content-Type: image/png" --data-binary @data/images/00002.png
//   curl -X POST "http://127.0.0.1:5080/predict" -F image=@data/images/00002.png      (multipart also works)
using System.CommandLine;
using MLNetSlim.Samples;
using MLNetSlim.Samples.WebApi;

Option<string?> modelOption = SampleCommandLine.Text("--model",
    "The model zip (relative to the current folder); default: Model:Path in appsettings.json or the Model__Path variable.");
Option<string?> urlsOption = SampleCommandLine.Text("--urls", "Addresses to listen on, e.g. http://127.0.0.1:5080 (default: ASP.NET's, http://localhost:5000).");
Option<int> poolOption = SampleCommandLine.Integer("--pool-size", "Prediction engines kept for concurrent requests (one loaded model); 0: Model:PoolSize, else the number of cores", 0, minimum: 0);
var root = new RootCommand("Serve an MLNetSlim model over HTTP: POST /predict?budget=..&weights=.. with an image, GET /health.")
{
    modelOption, urlsOption, poolOption,
};

return SampleCommandLine.Run(root, args, parse =>
{
    WebApplication app = WebApiApp.Build(parse.GetValue(modelOption), parse.GetValue(urlsOption), parse.GetValue(poolOption));
    app.Run();
    return 0;
});
