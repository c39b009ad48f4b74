"""servelab"""
