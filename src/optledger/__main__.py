from optledger.cli import main

main()
