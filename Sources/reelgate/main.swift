print("reelgate")
