using System.Text.RegularExpressions;

namespace MLNetSlim.Tests.Samples;

/// <summary>
/// docs/api renders on GitHub (issue 16): no DocFX &lt;xref&gt; tags left (GitHub shows them as nothing), and every link
/// between its pages points at an existing page and, with a #fragment, at an anchor on it. Regenerate with the command
/// in docs/api.md (DocFX, then docs/tools/ApiLinks.cs).
/// </summary>
[TestClass]
public sealed partial class ApiReferenceTests
{
    [TestMethod]
    public void ApiReference_HasNoXrefTags_AndItsLinksResolve()
    {
        string api = Path.Combine(SampleProcess.RepositoryRoot(), "docs", "api");
        Dictionary<string, string> pages = Directory.EnumerateFiles(api, "*.md").ToDictionary(p => Path.GetFileName(p), File.ReadAllText);
        Assert.IsNotEmpty(pages);
        var broken = new List<string>();
        foreach ((string name, string text) in pages)
        {
            if (text.Contains("<xref", StringComparison.Ordinal)) broken.Add($"{name}: an <xref> tag (run docs/tools/ApiLinks.cs, see docs/api.md)");
            foreach (Match link in RelativeLink().Matches(text))
            {
                string target = link.Groups[1].Value, anchor = link.Groups[2].Value;
                if (!pages.TryGetValue(target, out string? page)) broken.Add($"{name}: link to missing page {target}");
                else if (anchor.Length > 0 && !page.Contains($"<a id=\"{anchor}\"></a>", StringComparison.Ordinal)) broken.Add($"{name}: link to missing anchor {target}#{anchor}");
            }
        }
        Assert.IsEmpty(broken, string.Join("\n", broken.Take(20)));
    }

    // href="X.md#anchor" and markdown (X.md#anchor) links to pages of the same folder.
    [GeneratedRegex(@"(?:href=""|\]\()([A-Za-z0-9_.`-]+\.md)(?:#([A-Za-z0-9_]+))?[""\)]")]
    private static partial Regex RelativeLink();
}
