from laporbot.cli import main

main()
