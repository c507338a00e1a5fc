using MLNetSlim.Control;

namespace MLNetSlim.Tests.Control;

[TestClass]
public class ControlParseTests
{
    [TestMethod]
    public void ParseTaskWeights_ReadsColonAndEqualsPairs_InvariantCulture()
    {
        Dictionary<string, double> w = TaskPreferences.ParseTaskWeights(" digit:0.8, fashion=2e-1 ");
        Assert.HasCount(2, w);
        Assert.AreEqual(0.8, w["digit"]);
        Assert.AreEqual(0.2, w["fashion"]);
    }

    [TestMethod]
    public void ParseTaskWeights_RejectsWhatIsNotTaskNumber()
    {
        StringAssert.Contains(Assert.ThrowsExactly<FormatException>(() => TaskPreferences.ParseTaskWeights("digit:0,8")).Message, "'8' is not task:number");
        StringAssert.Contains(Assert.ThrowsExactly<FormatException>(() => TaskPreferences.ParseTaskWeights(" , ")).Message, "list no task");
        Assert.ThrowsExactly<FormatException>(() => TaskPreferences.ParseTaskWeights(":1"));
    }
}
