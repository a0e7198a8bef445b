from reels.cli import main

main()
