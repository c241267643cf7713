from zkjanitor.cli import main

main()
